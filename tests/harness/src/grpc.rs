//! Real gRPC peers from Python `grpcio` (installed by `cargo xtask setup` into a venv, see
//! [`venv`]) inside test namespaces: [`GrpcServer`] (`tests/harness/grpc/server.py`, a
//! server whose log has one line per finished call: method, call id, whether it carried the
//! marker, and a SHA-256 of the request messages) and [`run_client`]
//! (`tests/harness/grpc/client.py`: unary calls over several channels, client-streaming,
//! server-streaming and bidi calls, configurable message sizes). Messages are raw bytes
//! (generic handlers, no protobuf codegen).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use crate::{
    nghttp2::{wait_answers, Process},
    topology::Netns,
};

/// The gRPC service every test method belongs to.
pub const SERVICE: &str = "shadowtap.test.Echo";

/// The venv `cargo xtask setup` installs grpcio into: `$XDG_CACHE_HOME/shadowtap/grpcio-venv`,
/// else `$HOME/.cache/shadowtap/grpcio-venv` (the same path as `xtask/src/setup.rs`).
pub fn venv() -> PathBuf {
    let cache = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache")
        }
    };
    cache.join("shadowtap").join("grpcio-venv")
}

/// The venv's interpreter.
fn python() -> PathBuf {
    venv().join("bin").join("python")
}

/// Where the peer scripts live.
fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("grpc")
        .join(name)
}

/// Whether the grpcio venv is installed. Without it the test is a skip that says how to
/// install it, or, with `CI` set (where `cargo xtask setup` installs it), a failure.
pub fn require_grpcio(test: &str) -> bool {
    let ok = std::process::Command::new(python())
        .args(["-c", "import grpc"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: CI must have grpcio in {} (cargo xtask setup installs it)",
        venv().display()
    );
    eprintln!(
        "{test}: skipped: no grpcio in {} (cargo xtask setup installs it)",
        venv().display()
    );
    false
}

/// A call's method, as the scripts name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One request message, one response.
    Unary,
    /// Several request messages, one response.
    ClientStream,
    /// One request message, several responses.
    ServerStream,
    /// Several request messages, one response each.
    Bidi,
}

impl Mode {
    /// The method's name (`/shadowtap.test.Echo/<name>`).
    pub fn method(self) -> &'static str {
        match self {
            Mode::Unary => "Unary",
            Mode::ClientStream => "ClientStream",
            Mode::ServerStream => "ServerStream",
            Mode::Bidi => "Bidi",
        }
    }

    /// The method's `:path`.
    pub fn path(self) -> String {
        format!("/{SERVICE}/{}", self.method())
    }

    fn arg(self) -> &'static str {
        match self {
            Mode::Unary => "unary",
            Mode::ClientStream => "client-stream",
            Mode::ServerStream => "server-stream",
            Mode::Bidi => "bidi",
        }
    }
}

/// One finished call as a server logged it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedCall {
    /// Method name (`Unary`, ...).
    pub method: String,
    /// The call's `x-call-id`.
    pub call: String,
    /// Whether it carried the marker header.
    pub marked: bool,
    /// Request messages received.
    pub messages: u64,
    /// Request message bytes received.
    pub bytes: u64,
    /// SHA-256 over the request messages (each prefixed with its length).
    pub sha256: String,
    /// Whether every response message was handed to the transport.
    pub completed: bool,
}

/// One call as the client sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentCall {
    /// Method name.
    pub method: String,
    /// The call's `x-call-id`.
    pub call: String,
    /// Request messages sent.
    pub messages: u64,
    /// Request message bytes sent.
    pub bytes: u64,
    /// SHA-256 over the request messages, as [`ServedCall::sha256`].
    pub sha256: String,
    /// Response messages received.
    pub responses: u64,
}

fn str_field(v: &serde_json::Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("no string {k:?} in {v}"))
        .to_owned()
}

fn u64_field(v: &serde_json::Value, k: &str) -> u64 {
    v[k].as_u64()
        .unwrap_or_else(|| panic!("no integer {k:?} in {v}"))
}

/// `server.py` on `addr` inside `ns`, logging each finished call to a file.
pub struct GrpcServer {
    /// Where it listens.
    pub addr: SocketAddr,
    log: PathBuf,
    _process: Process,
}

impl GrpcServer {
    /// Start it (its log in `dir`) and wait until it answers (from `client`).
    /// Server-streaming calls are answered with `responses` messages of `response_size`
    /// bytes, bidi calls with one such message per request message.
    pub fn start(
        ns: &Netns,
        client: &Netns,
        addr: SocketAddr,
        dir: &Path,
        responses: u32,
        response_size: usize,
    ) -> Self {
        Self::start_variant(ns, client, addr, dir, responses, response_size, false)
    }

    /// [`start`](Self::start) a server that, when `differs`, differs on purpose (a mirror
    /// under comparison): client-streaming calls end with NOT_FOUND, server-streaming
    /// replies carry other bytes of the same lengths; unary and bidi calls as usual.
    pub fn start_variant(
        ns: &Netns,
        client: &Netns,
        addr: SocketAddr,
        dir: &Path,
        responses: u32,
        response_size: usize,
        differs: bool,
    ) -> Self {
        let log = dir.join(format!("grpc-{}-{}.log", addr.ip(), addr.port()));
        std::fs::write(&log, "").expect("create the server's log");
        let python = python();
        let server = script("server.py");
        let (log_s, addr_s) = (log.to_string_lossy(), addr.to_string());
        let (responses, response_size) = (responses.to_string(), response_size.to_string());
        let mut process = Process::spawn(
            ns,
            "grpc server.py",
            &[
                &python.to_string_lossy(),
                &server.to_string_lossy(),
                "--addr",
                &addr_s,
                "--log",
                &log_s,
                "--responses",
                &responses,
                "--response-size",
                &response_size,
                "--variant",
                if differs { "differs" } else { "same" },
            ],
            None,
        );
        wait_answers(client, addr, &mut process);
        Self {
            addr,
            log,
            _process: process,
        }
    }

    /// Every call logged so far (a line being written is left for the next read).
    pub fn calls(&self) -> Vec<ServedCall> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| ServedCall {
                method: str_field(&v, "method"),
                call: str_field(&v, "call"),
                marked: v["marked"].as_bool().unwrap_or(false),
                messages: u64_field(&v, "messages"),
                bytes: u64_field(&v, "bytes"),
                sha256: str_field(&v, "sha256"),
                completed: v["completed"].as_bool().unwrap_or(false),
            })
            .collect()
    }
}

/// What [`run_client`] runs.
#[derive(Clone, Debug)]
pub struct ClientRun {
    /// Which method.
    pub mode: Mode,
    /// How many calls.
    pub calls: u64,
    /// Over how many channels (each its own TCP connection); call i on channel i % channels.
    pub channels: u32,
    /// Calls in flight at once per channel.
    pub inflight: u32,
    /// Bytes per request message.
    pub size: usize,
    /// Request messages per client-streaming or bidi call.
    pub messages: u32,
    /// Call ids are `<prefix>-<i>`.
    pub prefix: String,
}

impl ClientRun {
    /// `calls` calls of `mode` on one channel, one at a time, one message of `size` bytes.
    pub fn new(mode: Mode, calls: u64, size: usize, prefix: &str) -> Self {
        Self {
            mode,
            calls,
            channels: 1,
            inflight: 1,
            size,
            messages: 1,
            prefix: prefix.to_owned(),
        }
    }
}

/// What the client reported.
#[derive(Clone, Debug)]
pub struct ClientReport {
    /// Calls that finished with status OK.
    pub ok: u64,
    /// Calls that failed.
    pub failed: u64,
    /// The first errors.
    pub errors: Vec<String>,
    /// Every call as sent.
    pub calls: Vec<SentCall>,
}

/// Run `client.py` inside `ns` against `target`; panics if it cannot run or prints no
/// report. Failed calls are reported, not a panic.
pub fn run_client(ns: &Netns, target: SocketAddr, run: &ClientRun) -> ClientReport {
    let python = python();
    let client = script("client.py");
    let args = [
        python.to_string_lossy().into_owned(),
        client.to_string_lossy().into_owned(),
        "--target".into(),
        target.to_string(),
        "--mode".into(),
        run.mode.arg().into(),
        "--calls".into(),
        run.calls.to_string(),
        "--channels".into(),
        run.channels.to_string(),
        "--inflight".into(),
        run.inflight.to_string(),
        "--size".into(),
        run.size.to_string(),
        "--messages".into(),
        run.messages.to_string(),
        "--prefix".into(),
        run.prefix.clone(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ns.exec_unchecked(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "grpc client printed no report ({}):\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        });
    ClientReport {
        ok: u64_field(&v, "ok"),
        failed: u64_field(&v, "failed"),
        errors: v["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        calls: v["calls"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| SentCall {
                        method: str_field(c, "method"),
                        call: str_field(c, "call"),
                        messages: u64_field(c, "messages"),
                        bytes: u64_field(c, "bytes"),
                        sha256: str_field(c, "sha256"),
                        responses: u64_field(c, "responses"),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}
