//! nginx as a fast backend (foo-v1, foo-v2 in the benchmarks): every request answered at
//! once with a short fixed body, and a `stub_status` endpoint on the namespace's loopback
//! whose request count says how many requests the backend served.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    path::Path,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use crate::{
    nginx::{http_preamble, Nginx},
    topology::Netns,
};

/// Where the request count is served inside the backend's namespace.
pub const STATUS_ADDR: &str = "127.0.0.1:18099";
/// The body of every answer.
pub const BODY: &str = "ok\n";

/// A running nginx backend.
pub struct Backend {
    /// The nginx process (stopped on drop).
    pub nginx: Nginx,
    /// Status requests made so far: nginx counts each among its requests.
    status_reads: AtomicU64,
}

/// The configuration: `workers` worker processes, keep-alive without limits, no logging,
/// `200` with [`BODY`] on every path at `listen`, and `stub_status` at [`STATUS_ADDR`].
pub fn config(dir: &Path, listen: SocketAddr, workers: usize) -> String {
    format!(
        r#"{preamble}
    default_type text/plain;
    server {{
        listen {listen} backlog=4096;
        location / {{
            return 200 "{body}";
        }}
    }}
    server {{
        listen {STATUS_ADDR};
        location / {{
            stub_status;
        }}
    }}
}}
"#,
        preamble = http_preamble(dir, &workers.to_string()),
        body = BODY.escape_default(),
    )
}

impl Backend {
    /// Start nginx in `ns` on `listen` with `workers` workers; returns once `listen`
    /// accepts connections from `probe_from`.
    pub fn start(ns: &Netns, listen: SocketAddr, workers: usize, probe_from: &Netns) -> Self {
        Self {
            nginx: Nginx::start_with(ns, |dir| config(dir, listen, workers), listen, probe_from),
            status_reads: AtomicU64::new(0),
        }
    }

    /// Requests served so far, not counting the status reads themselves (`None` if the
    /// status endpoint does not answer): the difference of two readings is the requests
    /// served in between.
    /// `ns` is the namespace the backend was started in.
    pub fn requests(&self, ns: &Netns) -> Option<u64> {
        // Every status request so far, this one included, is in nginx's count.
        let reads = self.status_reads.fetch_add(1, Ordering::Relaxed) + 1;
        let text = ns
            .spawn(|| {
                let addr: SocketAddr = STATUS_ADDR.parse().ok()?;
                let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
                s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
                s.write_all(b"GET / HTTP/1.1\r\nHost: status\r\nConnection: close\r\n\r\n")
                    .ok()?;
                let mut out = String::new();
                s.read_to_string(&mut out).ok()?;
                Some(out)
            })
            .join()
            .ok()??;
        let count = parse_status(&text)?;
        Some(count.saturating_sub(reads))
    }
}

/// The request count of a `stub_status` answer: the third number of the line after
/// `server accepts handled requests` (status requests included).
pub fn parse_status(text: &str) -> Option<u64> {
    let mut lines = text.lines();
    lines.find(|l| {
        l.trim_start()
            .starts_with("server accepts handled requests")
    })?;
    let numbers: Vec<u64> = lines
        .next()?
        .split_whitespace()
        .map(|n| n.parse().ok())
        .collect::<Option<_>>()?;
    numbers.get(2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_request_count() {
        let text = "HTTP/1.1 200 OK\r\n\r\nActive connections: 3 \nserver accepts handled requests\n 12 12 3456 \nReading: 0 Writing: 1 Waiting: 2 \n";
        assert_eq!(parse_status(text), Some(3456));
    }

    #[test]
    fn refuses_what_is_not_a_status_page() {
        assert_eq!(parse_status("HTTP/1.1 404 Not Found\r\n\r\nnope"), None);
        assert_eq!(
            parse_status("server accepts handled requests\n 1 x 3\n"),
            None
        );
    }

    #[test]
    fn the_config_serves_both_listeners() {
        let c = config(
            Path::new("/tmp/x"),
            "10.0.0.2:8080".parse().expect("address"),
            1,
        );
        assert!(c.contains("worker_processes 1;"));
        assert!(c.contains("listen 10.0.0.2:8080 backlog=4096;"));
        assert!(c.contains(&format!("listen {STATUS_ADDR};")));
        assert!(c.contains("return 200 \"ok\\n\";"));
    }
}
