//! nginx run inside a test namespace: as a reverse proxy with a `mirror` of a fraction of
//! requests (the proxy-based alternative shadowtap is compared with), or with any other
//! configuration (the benchmarks' fast backends, `nginx_backend`). Everything it writes
//! (configuration, pid, logs, temporary files) lives in its own temporary directory; it is
//! stopped and the directory removed when dropped.

use std::{
    net::{SocketAddr, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use crate::{
    topology::{unique_tag, Netns},
    wait,
};

/// What the proxy does.
#[derive(Clone, Copy, Debug)]
pub struct MirrorProxy {
    /// Where it listens.
    pub listen: SocketAddr,
    /// The primary backend every request goes to.
    pub primary: SocketAddr,
    /// The mirror backend.
    pub mirror: SocketAddr,
    /// Percentage of requests mirrored (0..=100).
    pub percent: u32,
    /// Worker processes (`0`: one per core).
    pub workers: usize,
}

/// A running nginx.
pub struct Nginx {
    child: Option<Child>,
    dir: PathBuf,
}

/// The start of every nginx configuration the harness writes, up to and including the
/// `http` block's common settings (the block is left open): `workers` worker processes,
/// pid, logs and temporary files under `dir`, no access log, unlimited keep-alive.
pub(crate) fn http_preamble(dir: &std::path::Path, workers: &str) -> String {
    let d = dir.display();
    format!(
        r#"worker_processes {workers};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{
    worker_connections 8192;
}}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 300s;"#
    )
}

impl MirrorProxy {
    /// The configuration: keep-alive upstreams for both backends, `mirror` on every request
    /// to an internal location that answers at once for the requests not chosen by
    /// `split_clients` (on the random `$request_id`) and proxies the rest, with their original
    /// URI, to the mirror backend.
    pub fn config(&self, dir: &std::path::Path) -> String {
        let workers = if self.workers == 0 {
            "auto".to_owned()
        } else {
            self.workers.to_string()
        };
        let pct = self.percent.min(100);
        let split = if pct >= 100 {
            "        * 1;".to_owned()
        } else {
            format!("        {pct}% 1;\n        * \"\";")
        };
        format!(
            r#"{preamble}
    upstream primary {{
        server {primary};
        keepalive 128;
        keepalive_requests 1000000;
    }}
    upstream mirror_backend {{
        server {mirror};
        keepalive 128;
        keepalive_requests 1000000;
    }}
    split_clients "${{request_id}}" $mirror_chosen {{
{split}
    }}
    server {{
        listen {listen} backlog=4096;
        location / {{
            mirror /_mirror;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_pass http://primary;
        }}
        location = /_mirror {{
            internal;
            if ($mirror_chosen = "") {{
                return 204;
            }}
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_pass http://mirror_backend$request_uri;
        }}
    }}
}}
"#,
            preamble = http_preamble(dir, &workers),
            primary = self.primary,
            mirror = self.mirror,
            listen = self.listen,
        )
    }
}

impl Nginx {
    /// Write the configuration and start nginx inside `ns`; returns once `listen` accepts
    /// connections from `probe_from` (e.g. the client's namespace).
    pub fn start(ns: &Netns, proxy: MirrorProxy, probe_from: &Netns) -> Self {
        Self::start_with(ns, |dir| proxy.config(dir), proxy.listen, probe_from)
    }

    /// Start nginx inside `ns` with the configuration `config` returns for nginx's own
    /// directory (where it keeps pid, logs and temporary files); returns once `listen`
    /// accepts connections from `probe_from`.
    pub fn start_with(
        ns: &Netns,
        config: impl FnOnce(&std::path::Path) -> String,
        listen: SocketAddr,
        probe_from: &Netns,
    ) -> Self {
        let dir = std::env::temp_dir().join(format!("shadowtap-nginx-{}", unique_tag()));
        std::fs::create_dir_all(&dir).expect("nginx dir");
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config(&dir)).expect("write nginx.conf");
        let child = Command::new("ip")
            .args(["netns", "exec", ns.name(), "nginx", "-p"])
            .arg(&dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start nginx (is nginx-light installed?)");
        let mut me = Self {
            child: Some(child),
            dir,
        };
        wait::until(
            "nginx to accept connections",
            Duration::from_secs(20),
            || {
                if let Some(Ok(Some(status))) = me.child.as_mut().map(Child::try_wait) {
                    panic!("nginx exited early ({status}): {}", me.error_log());
                }
                probe_from
                    .spawn(move || TcpStream::connect_timeout(&listen, Duration::from_millis(200)))
                    .join()
                    .ok()?
                    .ok()
                    .map(drop)
            },
        );
        me
    }

    /// The master's process id and its workers' (`ip netns exec` execs nginx in place, so
    /// the child is the master), for reading their CPU time.
    pub fn pids(&self) -> Vec<u32> {
        let Some(master) = self.child.as_ref().map(Child::id) else {
            return Vec::new();
        };
        let mut pids = vec![master];
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return pids;
        };
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // `pid (comm) state ppid ...`: the command may hold spaces and parentheses.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(master) {
                pids.push(pid);
            }
        }
        pids
    }

    /// nginx's error log so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `ip netns exec` execs nginx in place: this is the master process.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && std::time::Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
