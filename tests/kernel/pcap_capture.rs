//! A real capture: curl against `python3 -m http.server` in two network namespaces created by
//! the test (unique names, always removed), captured with tcpdump, decoded from the file by
//! `shadowtap-reconstruct`. Skipped, with a message, when not privileged (a failure in CI)
//! or when tcpdump, ip, python3 or curl is missing.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use shadowtap_harness::{require_privileges, topology::unique_tag, wait};
use shadowtap_reconstruct::pcap::decode_pcap;
use shadowtap_reconstruct::{Config, Counter, Method};

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Everything the test created; removed on drop, whatever happened.
struct Lab {
    client_ns: String,
    server_ns: String,
    children: Vec<Child>,
    dir: PathBuf,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        run(&["ip", "netns", "del", &self.client_ns]);
        run(&["ip", "netns", "del", &self.server_ns]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn curl_against_python_http_server() {
    if !require_privileges("curl_against_python_http_server") {
        return;
    }
    let missing: Vec<_> = ["tcpdump", "ip", "python3", "curl"]
        .into_iter()
        .filter(|t| !have(t))
        .collect();
    if !missing.is_empty() {
        eprintln!("curl_against_python_http_server: skipped: missing {missing:?}");
        return;
    }
    let tag = unique_tag();
    let dir = std::env::temp_dir().join(format!("shadowtap-pcap-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut lab = Lab {
        client_ns: format!("st-pcapc-{tag}"),
        server_ns: format!("st-pcaps-{tag}"),
        children: Vec::new(),
        dir: dir.clone(),
    };
    let (vc, vs) = (format!("stpc{tag}"), format!("stps{tag}"));
    let (c, s) = (lab.client_ns.clone(), lab.server_ns.clone());
    for step in [
        vec!["ip", "netns", "add", &c],
        vec!["ip", "netns", "add", &s],
        vec![
            "ip", "link", "add", &vc, "netns", &c, "type", "veth", "peer", "name", &vs, "netns", &s,
        ],
        vec!["ip", "-n", &c, "addr", "add", "10.213.7.1/30", "dev", &vc],
        vec!["ip", "-n", &s, "addr", "add", "10.213.7.2/30", "dev", &vs],
        vec!["ip", "-n", &c, "link", "set", &vc, "up"],
        vec!["ip", "-n", &s, "link", "set", &vs, "up"],
        vec!["ip", "-n", &s, "link", "set", "lo", "up"],
    ] {
        if !run(&step) {
            panic!("cannot set up the namespaces: {step:?} failed");
        }
    }
    let server = Command::new("ip")
        .args([
            "netns",
            "exec",
            &s,
            "python3",
            "-m",
            "http.server",
            "8080",
            "--bind",
            "10.213.7.2",
        ])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    lab.children.push(server);
    let url = |p: &str| format!("http://10.213.7.2:8080{p}");
    let probe = url("/probe");
    wait::until("the server", Duration::from_secs(20), || {
        run(&[
            "ip",
            "netns",
            "exec",
            &c,
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "--max-time",
            "1",
            &probe,
        ])
        .then_some(())
    });
    let pcap = dir.join("capture.pcap");
    let pcap_s = pcap.to_str().unwrap().to_string();
    let tcpdump = Command::new("ip")
        .args([
            "netns",
            "exec",
            &s,
            "tcpdump",
            "-i",
            &vs,
            "--immediate-mode",
            "-U",
            "-w",
            &pcap_s,
            "tcp",
            "port",
            "8080",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let tcpdump_pid = tcpdump.id().to_string();
    let tcpdump_index = lab.children.len();
    lab.children.push(tcpdump);
    wait::until("tcpdump", Duration::from_secs(20), || {
        run(&[
            "ip",
            "netns",
            "exec",
            &c,
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "--max-time",
            "1",
            &probe,
        ]);
        std::fs::metadata(&pcap)
            .is_ok_and(|m| m.len() > 200)
            .then_some(())
    });
    let body = "a".repeat(5000);
    // Two GETs from one curl, then a POST with a body larger than one segment.
    assert!(run(&[
        "ip",
        "netns",
        "exec",
        &c,
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        &url("/one"),
        &url("/two?x=1")
    ]));
    assert!(run(&[
        "ip",
        "netns",
        "exec",
        &c,
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "--data-binary",
        &body,
        &url("/three")
    ]));
    // tcpdump writes each packet as it comes (`-U`): wait until the file holds the last
    // request whole, then SIGINT so tcpdump flushes and closes the file properly.
    wait::until(
        "the capture to hold /three",
        Duration::from_secs(20),
        || {
            let (reqs, _) = decode_pcap(Path::new(&pcap), &Config::default()).ok()?;
            reqs.iter().any(|r| r.target() == b"/three").then_some(())
        },
    );
    run(&["kill", "-INT", &tcpdump_pid]);
    wait::until("tcpdump to exit", Duration::from_secs(20), || {
        lab.children[tcpdump_index].try_wait().unwrap()
    });

    let (reqs, counters) = decode_pcap(Path::new(&pcap), &Config::default()).unwrap();
    let targets: Vec<String> = reqs
        .iter()
        .map(|r| String::from_utf8_lossy(r.target()).into_owned())
        .collect();
    let pos = |t: &str| {
        targets
            .iter()
            .position(|x| x == t)
            .unwrap_or_else(|| panic!("{t} not in {targets:?}; {counters:?}"))
    };
    let (one, two, three) = (pos("/one"), pos("/two?x=1"), pos("/three"));
    assert!(one < two && two < three);
    // python's http.server answers HTTP/1.0 and closes: curl uses one connection each.
    assert_ne!(reqs[one].flow(), reqs[two].flow());
    assert_eq!(reqs[three].method(), Method::Post);
    assert_eq!(&reqs[three].body()[..], body.as_bytes());
    assert_eq!(reqs[one].host(), Some(&b"10.213.7.2:8080"[..]));
    assert!(reqs
        .iter()
        .all(|r| r.raw().starts_with(b"GET ") || r.raw().starts_with(b"POST ")));
    assert_eq!(counters.get(Counter::Gaps), 0);
    assert!(counters.check_conservation(0));
    drop(lab);
}
