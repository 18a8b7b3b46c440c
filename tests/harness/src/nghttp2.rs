//! Real HTTP/2 peers from nghttp2 (installed by `cargo xtask setup`) inside test
//! namespaces: `nghttpd` (an h2c server whose verbose log tells what each stream carried),
//! `nghttpx` (a proxy whose cleartext frontend accepts `Upgrade: h2c`), and the `h2load` and
//! `curl` clients. Processes are killed when their guard drops.

use std::{
    fs::File,
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

use crate::{topology::Netns, wait};

/// Whether every tool of `tools` is installed. Missing ones make the test a skip that names
/// them, or, with `CI` set (where `cargo xtask setup` installs them), a failure.
pub fn require_tools(test: &str, tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: CI must have {missing:?} (cargo xtask setup installs nghttp2-client, -server, -proxy)"
    );
    eprintln!("{test}: skipped: {missing:?} not installed (cargo xtask setup installs them)");
    false
}

/// A process started in a namespace; killed on drop.
pub struct Process {
    child: Child,
    what: String,
}

impl Process {
    /// Start `args` inside `ns` (stdout to `log`, or discarded; stderr discarded).
    pub(crate) fn spawn(ns: &Netns, what: &str, args: &[&str], log: Option<&Path>) -> Self {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns.name()]).args(args);
        cmd.stdin(Stdio::null()).stderr(Stdio::null());
        match log {
            Some(path) => cmd.stdout(File::create(path).expect("create log")),
            None => cmd.stdout(Stdio::null()),
        };
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {what}: {e}"));
        Self {
            child,
            what: what.to_owned(),
        }
    }

    /// Panics if the process has exited.
    fn check_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited early: {status}", self.what);
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `addr` accepts a connection from inside `from`.
pub(crate) fn wait_answers(from: &Netns, addr: SocketAddr, process: &mut Process) {
    wait::until(
        &format!("{} to answer on {addr}", process.what),
        Duration::from_secs(10),
        || {
            process.check_running();
            from.spawn(move || {
                TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            })
            .join()
            .expect("connect thread")
            .then_some(())
        },
    );
}

/// `nghttpd` serving h2c (prior knowledge) on `addr` inside `ns`, with its verbose log (one
/// line per received field, `recv (stream_id=N) name: value`) written to a file.
pub struct Nghttpd {
    /// Where it listens.
    pub addr: SocketAddr,
    log: PathBuf,
    _process: Process,
}

impl Nghttpd {
    /// Start it, serving an empty document root, and wait until it answers (from `client`).
    pub fn start(ns: &Netns, client: &Netns, addr: SocketAddr, dir: &Path) -> Self {
        let root = dir.join(format!("nghttpd-root-{}", addr.port()));
        std::fs::create_dir_all(&root).expect("document root");
        let log = dir.join(format!("nghttpd-{}-{}.log", addr.ip(), addr.port()));
        let port = addr.port().to_string();
        let ip = addr.ip().to_string();
        let root_s = root.to_string_lossy().into_owned();
        // Line-buffered, so the log is complete up to each request it has read.
        let mut process = Process::spawn(
            ns,
            "nghttpd",
            &[
                "stdbuf", "-oL", "nghttpd", "--no-tls", "-v", "-a", &ip, "-d", &root_s, &port,
            ],
            Some(&log),
        );
        wait_answers(client, addr, &mut process);
        Self {
            addr,
            log,
            _process: process,
        }
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Requests whose fields included `name: value` (a field line of the log), and whose
    /// `:path` started with `path_prefix`. Each stream's fields are logged together, so a
    /// stream is counted once.
    pub fn count(&self, path_prefix: &str, name: &str, value: &str) -> u64 {
        count_streams(&self.log(), path_prefix, Some((name, value)))
    }

    /// Requests whose `:path` started with `path_prefix`.
    pub fn count_path(&self, path_prefix: &str) -> u64 {
        count_streams(&self.log(), path_prefix, None)
    }
}

/// Counts the streams of an nghttpd verbose log whose `:path` starts with `path_prefix` and
/// (if given) that carried the field `name: value`.
pub fn count_streams(log: &str, path_prefix: &str, field: Option<(&str, &str)>) -> u64 {
    use std::collections::HashMap;
    // (connection id, stream id) -> (path matches, field seen)
    let mut streams: HashMap<(String, String), (bool, bool)> = HashMap::new();
    for line in log.lines() {
        let Some(rest) = line.split("] recv (stream_id=").nth(1) else {
            continue;
        };
        let conn = line
            .split(']')
            .next()
            .unwrap_or_default()
            .trim_start_matches('[')
            .to_owned();
        let Some((stream, field_line)) = rest.split_once(") ") else {
            continue;
        };
        let Some((n, v)) = field_line.split_once(": ") else {
            continue;
        };
        let entry = streams
            .entry((conn, stream.to_owned()))
            .or_insert((false, field.is_none()));
        if n == ":path" && v.starts_with(path_prefix) {
            entry.0 = true;
        }
        if let Some((name, value)) = field {
            if n == name && v == value {
                entry.1 = true;
            }
        }
    }
    streams.values().filter(|(p, f)| *p && *f).count() as u64
}

/// `nghttpx` with a cleartext frontend on `front` (inside `ns`) that accepts h2c, prior
/// knowledge and `Upgrade: h2c`, forwarding over h2 to `backend` (reachable from `ns`).
pub struct Nghttpx {
    _process: Process,
}

impl Nghttpx {
    /// Start it and wait until it answers (from `client`).
    pub fn start(ns: &Netns, client: &Netns, front: SocketAddr, backend: SocketAddr) -> Self {
        let frontend = format!("--frontend={},{};no-tls", front.ip(), front.port());
        let backend = format!("--backend={},{};;proto=h2", backend.ip(), backend.port());
        let mut process = Process::spawn(
            ns,
            "nghttpx",
            &[
                "nghttpx",
                "--conf=/dev/null",
                "--single-process",
                "--workers=1",
                &frontend,
                &backend,
            ],
            None,
        );
        wait_answers(client, front, &mut process);
        Self { _process: process }
    }
}

fn run(ns: &Netns, args: &[&str]) -> Output {
    let out = ns.exec_unchecked(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `h2load`: `requests` requests over `connections` connections with up to `streams`
/// concurrent streams each, to `url`, from `ns`. Returns the requests that succeeded (2xx
/// and 4xx answers both count: the server processed them).
pub fn h2load(ns: &Netns, url: &str, requests: u64, connections: u32, streams: u32) -> u64 {
    h2load_with(ns, url, requests, connections, streams, &[])
}

/// [`h2load`] sending `POST`s with the contents of `body` as each request's body and the
/// `headers` (`name: value`), as gRPC unary calls are sent (`content-type:
/// application/grpc`, a length-prefixed message).
pub fn h2load_post(
    ns: &Netns,
    url: &str,
    requests: u64,
    connections: u32,
    streams: u32,
    body: &Path,
    headers: &[&str],
) -> u64 {
    let body = body.to_string_lossy().into_owned();
    let mut extra = vec!["-d", body.as_str()];
    for h in headers {
        extra.extend(["-H", h]);
    }
    h2load_with(ns, url, requests, connections, streams, &extra)
}

/// [`h2load`] over several URLs (of one authority): each connection sends them in turn,
/// so responses to different paths share and interleave on its streams.
pub fn h2load_urls(
    ns: &Netns,
    urls: &[&str],
    requests: u64,
    connections: u32,
    streams: u32,
) -> u64 {
    let (n, c, m) = (
        requests.to_string(),
        connections.to_string(),
        streams.to_string(),
    );
    let mut args = vec!["h2load", "-n", &n, "-c", &c, "-m", &m];
    args.extend_from_slice(urls);
    done_count(&run(ns, &args))
}

fn done_count(out: &Output) -> u64 {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // "requests: 1000 total, 1000 started, 1000 done, 1000 succeeded, 0 failed, ..."
    let line = text
        .lines()
        .find(|l| l.starts_with("requests:"))
        .unwrap_or_else(|| panic!("no requests line in h2load output:\n{text}"));
    line.split(", ")
        .find_map(|p| p.strip_suffix(" done"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no done count in {line:?}"))
}

fn h2load_with(
    ns: &Netns,
    url: &str,
    requests: u64,
    connections: u32,
    streams: u32,
    extra: &[&str],
) -> u64 {
    let (n, c, m) = (
        requests.to_string(),
        connections.to_string(),
        streams.to_string(),
    );
    let mut args = vec!["h2load", "-n", &n, "-c", &c, "-m", &m];
    args.extend_from_slice(extra);
    args.push(url);
    done_count(&run(ns, &args))
}

/// `curl --http2` (HTTP/1.1 with `Upgrade: h2c`) to `url` from `ns`; returns the status.
pub fn curl_upgrade(ns: &Netns, url: &str) -> u16 {
    let out = run(
        ns,
        &[
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{http_version}",
            "--http2",
            url,
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut parts = text.split_whitespace();
    let status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    assert_eq!(parts.next(), Some("2"), "curl upgraded to HTTP/2: {text}");
    status
}
