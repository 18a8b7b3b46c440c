//! Capture from real HTTP/2 clients no one here wrote: `h2load`, `nghttp` and `curl
//! --http2-prior-knowledge` (Debian's nghttp2-client and curl) talk to `nghttpd`
//! (nghttp2-server) through a relay on 127.0.0.1 that records the client→server bytes of
//! each connection. Every request the clients sent must decode with its method, path,
//! authority and body, whatever the pieces the bytes are pushed in.
//!
//! The h2c upgrade goes through `nghttpx` (nghttp2-proxy) in front of `nghttpd`, since
//! `nghttpd` itself does not accept `Upgrade: h2c`.
//!
//! The tools are installed by `cargo xtask setup`; without them the test says which is
//! missing and skips (with `CI` set it fails instead).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shadowtap_h2::{Counter, H2Decoder, H2Request, Limits, Start};

const TIMEOUT: Duration = Duration::from_secs(20);

/// Poll `cond` until it holds; panic with `what` after `timeout`.
fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10)); // polling interval, not a settle delay
    }
}

fn have(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .any(|d| d.join(tool).is_file())
}

/// Whether every tool is present; skips (or fails under CI) naming the missing ones.
fn require_tools(test: &str, tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !have(t)).collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "{test}: needs {} (cargo xtask setup installs them)",
        missing.join(", ")
    );
    assert!(std::env::var_os("CI").is_none(), "{msg}");
    eprintln!("skipped: {msg}");
    false
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "shadowtap-h2-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free port on 127.0.0.1 (bound then released; the server binds it next).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

fn answers(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Start the server `command(port)` builds on a free port and wait until it answers. The
/// port is found free and then released, so another process may take it first: a server
/// that exits instead of answering is started again on another port.
fn serve(what: &str, command: impl Fn(u16) -> Command) -> (Proc, u16) {
    for _ in 0..5 {
        let port = free_port();
        let mut p = Proc(
            command(port)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("start {what}: {e}")),
        );
        let mut exited = false;
        wait_until(&format!("{what} to answer on port {port}"), TIMEOUT, || {
            exited = matches!(p.0.try_wait(), Ok(Some(_)));
            exited || answers(port)
        });
        if !exited {
            return (p, port);
        }
    }
    panic!("{what} exited five times without answering");
}

/// `nghttpd` serving `docroot` over h2c on 127.0.0.1.
fn nghttpd(docroot: &Path) -> (Proc, u16) {
    serve("nghttpd", |port| {
        let mut c = Command::new("nghttpd");
        c.args(["--no-tls", "-a", "127.0.0.1", "-d"])
            .arg(docroot)
            .arg(port.to_string());
        c
    })
}

/// `nghttpx` accepting h2c (and `Upgrade: h2c`) on 127.0.0.1, forwarding to `backend` over
/// h2.
fn nghttpx(backend: u16) -> (Proc, u16) {
    serve("nghttpx", |port| {
        let mut c = Command::new("nghttpx");
        c.arg("--conf=/dev/null")
            .arg("--single-process")
            .arg(format!("--frontend=127.0.0.1,{port};no-tls"))
            .arg(format!("--backend=127.0.0.1,{backend};;proto=h2"));
        c
    })
}

/// Split a connection's bytes after the HTTP/1.1 request head that asks for `Upgrade: h2c`.
fn after_upgrade_request(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP/1.1 request head")
        + 4;
    let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
    assert!(head.contains("upgrade: h2c"), "{head}");
    &bytes[end..]
}

/// One recorded connection: the client's bytes, and whether the client finished sending.
#[derive(Default)]
struct Recorded {
    bytes: Vec<u8>,
    done: bool,
}

/// A TCP relay on 127.0.0.1 that records each connection's client→server bytes.
struct Relay {
    port: u16,
    conns: Arc<Mutex<Vec<Arc<Mutex<Recorded>>>>>,
}

impl Relay {
    fn start(upstream: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind relay");
        let port = listener.local_addr().expect("relay address").port();
        let conns: Arc<Mutex<Vec<Arc<Mutex<Recorded>>>>> = Arc::default();
        let list = conns.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    return;
                };
                let rec = Arc::new(Mutex::new(Recorded::default()));
                list.lock().expect("relay list").push(rec.clone());
                let (c2, s2) = (
                    client.try_clone().expect("clone client"),
                    server.try_clone().expect("clone server"),
                );
                std::thread::spawn(move || copy(client, server, Some(rec)));
                std::thread::spawn(move || copy(s2, c2, None));
            }
        });
        Relay { port, conns }
    }

    /// Wait for `n` connections whose clients have finished, and return their bytes.
    fn take(&self, n: usize) -> Vec<Vec<u8>> {
        wait_until(
            &format!("{n} finished connections through the relay"),
            TIMEOUT,
            || {
                let l = self.conns.lock().expect("relay list");
                l.len() >= n && l.iter().all(|r| r.lock().expect("recorded").done)
            },
        );
        let mut l = self.conns.lock().expect("relay list");
        let all = l
            .drain(..)
            .map(|r| std::mem::take(&mut r.lock().expect("recorded").bytes))
            .collect();
        all
    }
}

fn copy(mut from: TcpStream, mut to: TcpStream, rec: Option<Arc<Mutex<Recorded>>>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Some(r) = &rec {
                    r.lock()
                        .expect("recorded")
                        .bytes
                        .extend_from_slice(&buf[..n]);
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    if let Some(r) = rec {
        r.lock().expect("recorded").done = true;
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run client");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Decode one connection's bytes pushed in pieces of `piece` bytes.
fn decode(bytes: &[u8], start: Start, piece: usize) -> (Vec<H2Request>, H2Decoder) {
    let mut d = H2Decoder::new(start, Limits::default());
    let mut out = Vec::new();
    for p in bytes.chunks(piece.max(1)) {
        d.push(p, &mut out);
    }
    assert!(
        d.is_decoding(),
        "stopped: {:?} {:?}",
        d.stopped(),
        d.counters()
    );
    assert_eq!(d.open_streams(), 0, "{:?}", d.counters());
    assert!(d.counters().check_conservation(0));
    (out, d)
}

/// Decode with several piece sizes; all must agree.
fn decode_all_ways(bytes: &[u8], start: Start) -> Vec<H2Request> {
    let (whole, _) = decode(bytes, start, usize::MAX);
    for piece in [1, 7, 100, 1400] {
        let (pieces, _) = decode(bytes, start, piece);
        assert_eq!(pieces, whole, "pieces of {piece} bytes");
    }
    whole
}

fn check(r: &H2Request, method: &str, path: &str, authority: &str, body: &[u8]) {
    assert_eq!(r.pseudo.method, method.as_bytes(), "{r:?}");
    assert_eq!(r.pseudo.path.as_deref(), Some(path.as_bytes()), "{r:?}");
    assert_eq!(
        r.pseudo.authority.as_deref(),
        Some(authority.as_bytes()),
        "{r:?}"
    );
    assert_eq!(r.pseudo.scheme.as_deref(), Some(&b"http"[..]));
    assert!(
        r.body == body,
        "stream {}: body of {} bytes, want {}",
        r.stream_id,
        r.body.len(),
        body.len()
    );
}

fn body_file(dir: &Path, len: usize) -> (PathBuf, Vec<u8>) {
    // A deterministic, incompressible-looking body.
    let mut x: u32 = 0x1234_5678;
    let body: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    let p = dir.join(format!("body-{len}"));
    std::fs::write(&p, &body).expect("write body");
    (p, body)
}

#[test]
fn h2load_many_concurrent_streams() {
    if !require_tools("h2load_many_concurrent_streams", &["nghttpd", "h2load"]) {
        return;
    }
    let root = TempDir::new("h2load");
    std::fs::write(root.0.join("index.html"), "hello").expect("docroot");
    let (_server, port) = nghttpd(&root.0);
    let relay = Relay::start(port);
    let url = format!("http://127.0.0.1:{}/index.html", relay.port);
    // 2 connections, 8 concurrent streams each, 40 GETs; then 12 POSTs of 20 000 bytes
    // (more than one DATA frame each) on one connection, 4 at a time.
    run(Command::new("h2load").args(["-n", "40", "-c", "2", "-m", "8", &url]));
    let get_conns = relay.take(2);
    let (path, body) = body_file(&root.0, 20_000);
    run(Command::new("h2load")
        .args(["-n", "12", "-c", "1", "-m", "4", "-d"])
        .arg(&path)
        .arg(&url));
    let post_conns = relay.take(1);
    let authority = format!("127.0.0.1:{}", relay.port);
    let mut gets = 0;
    for c in &get_conns {
        let reqs = decode_all_ways(c, Start::PriorKnowledge);
        for r in &reqs {
            check(r, "GET", "/index.html", &authority, b"");
        }
        gets += reqs.len();
    }
    assert_eq!(gets, 40);
    let reqs = decode_all_ways(&post_conns[0], Start::PriorKnowledge);
    assert_eq!(reqs.len(), 12);
    for r in &reqs {
        check(r, "POST", "/index.html", &authority, &body);
    }
    // h2load reuses indexed fields across requests: the dynamic table was in use.
    let (_, d) = decode(&post_conns[0], Start::PriorKnowledge, usize::MAX);
    assert_eq!(d.counters().get(Counter::HeaderBlocks), 12);
}

#[test]
fn nghttp_upload_with_trailers_and_several_paths() {
    if !require_tools(
        "nghttp_upload_with_trailers_and_several_paths",
        &["nghttpd", "nghttp"],
    ) {
        return;
    }
    let root = TempDir::new("nghttp");
    for f in ["a", "b", "c"] {
        std::fs::write(root.0.join(f), f).expect("docroot");
    }
    let (_server, port) = nghttpd(&root.0);
    let relay = Relay::start(port);
    let base = format!("http://127.0.0.1:{}", relay.port);
    let (path, body) = body_file(&root.0, 70_000);
    run(Command::new("nghttp")
        .args([
            "-n",
            "--trailer",
            "x-checksum: 42",
            "-H",
            "x-custom: one",
            "-d",
        ])
        .arg(&path)
        .arg(format!("{base}/a"))
        .arg(format!("{base}/b?q=1"))
        .arg(format!("{base}/c")));
    let conns = relay.take(1);
    let mut reqs = decode_all_ways(&conns[0], Start::PriorKnowledge);
    reqs.sort_by_key(|r| r.stream_id);
    let authority = format!("127.0.0.1:{}", relay.port);
    let paths: Vec<&[u8]> = reqs
        .iter()
        .map(|r| r.pseudo.path.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(paths, vec![&b"/a"[..], b"/b?q=1", b"/c"]);
    for r in &reqs {
        check(
            r,
            "POST",
            std::str::from_utf8(r.pseudo.path.as_deref().unwrap_or_default()).unwrap_or(""),
            &authority,
            &body,
        );
        assert_eq!(
            r.header_values("x-custom").collect::<Vec<_>>(),
            vec![&b"one"[..]]
        );
        assert_eq!(
            r.trailers,
            vec![shadowtap_h2::Field::new(&b"x-checksum"[..], &b"42"[..])]
        );
    }
}

#[test]
fn curl_prior_knowledge_post_and_get() {
    if !require_tools("curl_prior_knowledge_post_and_get", &["nghttpd", "curl"]) {
        return;
    }
    let root = TempDir::new("curl");
    std::fs::write(root.0.join("x"), "x").expect("docroot");
    let (_server, port) = nghttpd(&root.0);
    let relay = Relay::start(port);
    let url = format!("http://127.0.0.1:{}/x", relay.port);
    let (path, body) = body_file(&root.0, 3000);
    // One request per curl run: curl 7.88 fails ("Error in the HTTP2 framing layer") when it
    // reuses a prior-knowledge connection to nghttpd for a second request.
    run(Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "--http2-prior-knowledge",
            "-H",
            "X-Mixed-Case: V",
        ])
        .arg("--data-binary")
        .arg(format!("@{}", path.display()))
        .arg(&url));
    run(Command::new("curl")
        .args(["-s", "-o", "/dev/null", "--http2-prior-knowledge"])
        .arg(format!("{url}?second")));
    let conns = relay.take(2);
    let authority = format!("127.0.0.1:{}", relay.port);
    let post = decode_all_ways(&conns[0], Start::PriorKnowledge);
    assert_eq!(post.len(), 1);
    check(&post[0], "POST", "/x", &authority, &body);
    // HTTP/2 field names are lowercase on the wire, as curl sends them.
    assert_eq!(
        post[0].header_values("x-mixed-case").collect::<Vec<_>>(),
        vec![&b"V"[..]]
    );
    let get = decode_all_ways(&conns[1], Start::PriorKnowledge);
    assert_eq!(get.len(), 1);
    check(&get[0], "GET", "/x?second", &authority, b"");
}

#[test]
fn h2c_upgrade_from_nghttp_and_curl() {
    if !require_tools(
        "h2c_upgrade_from_nghttp_and_curl",
        &["nghttpd", "nghttpx", "nghttp", "curl"],
    ) {
        return;
    }
    let root = TempDir::new("upgrade");
    std::fs::write(root.0.join("x"), "x").expect("docroot");
    std::fs::write(root.0.join("y"), "y").expect("docroot");
    let (_server, port) = nghttpd(&root.0);
    let (_proxy, front) = nghttpx(port);
    let relay = Relay::start(front);
    let base = format!("http://127.0.0.1:{}", relay.port);
    let authority = format!("127.0.0.1:{}", relay.port);
    // nghttp: the first request is the upgrade request (stream 1); the second goes over h2.
    run(Command::new("nghttp")
        .args(["-u", "-n", "-H", "x-after: upgrade"])
        .arg(format!("{base}/x"))
        .arg(format!("{base}/y?z")));
    // curl: one request, the upgrade request itself; the h2 bytes carry only the preface
    // and settings.
    run(Command::new("curl")
        .args(["-s", "-o", "/dev/null", "--http2"])
        .arg(format!("{base}/x")));
    let conns = relay.take(2);
    let reqs = decode_all_ways(after_upgrade_request(&conns[0]), Start::AfterH2cUpgrade);
    assert_eq!(reqs.len(), 1, "the second request");
    check(&reqs[0], "GET", "/y?z", &authority, b"");
    assert!(reqs[0].stream_id > 1);
    assert_eq!(
        reqs[0].header_values("x-after").collect::<Vec<_>>(),
        vec![&b"upgrade"[..]]
    );
    let (reqs, d) = decode(
        after_upgrade_request(&conns[1]),
        Start::AfterH2cUpgrade,
        usize::MAX,
    );
    assert!(reqs.is_empty());
    assert_eq!(
        d.counters().get(Counter::H2Connections),
        1,
        "the upgrade was accepted"
    );
    // Read as prior knowledge from the start, the same bytes are a mid-stream connection.
    let (reqs, d) = {
        let mut d = H2Decoder::new(Start::PriorKnowledge, Limits::default());
        let mut out = Vec::new();
        d.push(&conns[0], &mut out);
        (out, d)
    };
    assert!(reqs.is_empty());
    assert_eq!(d.counters().get(Counter::H2Midstream), 1);
}
