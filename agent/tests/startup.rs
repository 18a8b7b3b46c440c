//! Starting against a Kubernetes API: `/metrics`, `/livez` and `/readyz` answer before the
//! lists finish (a slow API server must not look like a dead agent), readiness waits for the
//! first plan, and an API server that forbids the lists (RBAC older than the agent) stops the
//! agent with a clear error instead of a silent wait.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

const WAIT: Duration = Duration::from_secs(20);

/// A kubeconfig naming `server` (plain HTTP, no credentials).
fn kubeconfig(server: SocketAddr, name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "shadowtap-startup-{}-{name}.kubeconfig",
        std::process::id()
    ));
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://{server}\n\
         users:\n- name: u\n  user: {{}}\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n\
         current-context: x\n"
    );
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

/// A free loopback port for the metrics server.
fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// Runs `shadowtap agent` against the API server in `kubeconfig`.
fn agent(kubeconfig: &PathBuf, metrics: SocketAddr) -> Child {
    Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .args(["agent", "--node-name", "node-a", "--metrics-addr"])
        .arg(metrics.to_string())
        .env("KUBECONFIG", kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shadowtap agent")
}

/// The status code of `GET path`, if the server answered.
fn status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split(' ').nth(1)?.parse().ok()
}

fn wait_for<T>(what: &str, mut cond: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// Accepts connections and never answers: the lists never finish.
fn black_hole() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    addr
}

/// Answers every request with the API server's 403 Status.
fn forbidding() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"httproutes.gateway.networking.k8s.io is forbidden: User \"system:serviceaccount:shadowtap-system:shadowtap\" cannot list resource \"httproutes\"","reason":"Forbidden","code":403}"#;
            let _ = write!(
                s,
                "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

#[test]
fn probes_answer_before_the_lists_finish() {
    let config = kubeconfig(black_hole(), "black-hole");
    let metrics = free_port();
    let mut child = agent(&config, metrics);
    let live = wait_for("/livez to answer", || status(metrics, "/livez"));
    let ready = status(metrics, "/readyz");
    let scrape = status(metrics, "/metrics");
    let _ = child.kill();
    let _ = child.wait();
    std::fs::remove_file(&config).ok();
    assert_eq!(live, 200, "alive while listing");
    assert_eq!(ready, Some(503), "not ready before the first plan");
    assert_eq!(scrape, Some(200), "metrics served while listing");
}

#[test]
fn forbidden_lists_stop_the_agent_with_a_clear_error() {
    let config = kubeconfig(forbidding(), "forbidden");
    let metrics = free_port();
    let mut child = agent(&config, metrics);
    let code = wait_for("the agent to exit", || child.try_wait().ok().flatten());
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    std::fs::remove_file(&config).ok();
    assert!(!code.success(), "{stderr}");
    assert!(
        stderr.contains("forbids listing or watching") && stderr.contains("ClusterRole"),
        "{stderr}"
    );
}
