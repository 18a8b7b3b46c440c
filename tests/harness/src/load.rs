//! A single-threaded HTTP/1.1 load generator over keep-alive connections, cheap enough to
//! share a small machine with the servers and shadowtap.
//!
//! One thread runs an epoll loop over every connection (no thread per connection), and
//! sleeps with nanosecond timeouts between sends. Two modes:
//!
//! * open loop ([`Mode::Open`]): requests are scheduled at a fixed rate, spread round-robin
//!   over the connections; a connection still waiting for an answer queues its next request
//!   and sends it as soon as the answer arrives, and every latency is measured from the
//!   request's *scheduled* time, so a slow answer is charged to every request it delays
//!   (no coordinated omission);
//! * closed loop ([`Mode::Closed`]): each connection sends its next request as soon as the
//!   previous answer arrives; latency is measured from the actual send.
//!
//! Responses are framed from their head (Content-Length or chunked), so servers that add
//! headers of their own (proxies) are measured correctly.

mod poller;
pub mod response;

use std::{
    collections::VecDeque,
    io::{self, Read, Write},
    net::{SocketAddr, TcpStream},
    os::fd::AsRawFd,
    time::{Duration, Instant},
};

use crate::topology::Netns;
use poller::{set_timer_slack, Event, Poller};

/// How requests are paced.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// A fixed rate (requests per second over all connections), latency from the schedule.
    Open {
        /// Requests per second.
        rate: f64,
    },
    /// As fast as answers come back, one request in flight per connection.
    Closed,
}

/// One run of the generator.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// Keep-alive connections, opened before the clock starts.
    pub connections: usize,
    /// Pacing.
    pub mode: Mode,
    /// Load applied before measuring (latencies and throughput of this part are dropped).
    pub warmup: Duration,
    /// The measured part.
    pub duration: Duration,
    /// How long answers still outstanding at the end are waited for.
    pub drain: Duration,
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Latencies of the requests started (open loop: scheduled) in the measured window,
    /// sorted ascending.
    pub latencies: Vec<Duration>,
    /// Answers that arrived within the measured window.
    pub completed: u64,
    /// The measured window's length.
    pub window: Duration,
    /// Requests written, warm-up included.
    pub sent: u64,
    /// Answers received, warm-up included.
    pub answered: u64,
    /// Answers whose status was not 2xx.
    pub non_2xx: u64,
    /// Requests lost because their connection closed or broke before the answer.
    pub failed: u64,
    /// Requests scheduled but unanswered when the drain time ran out.
    pub unfinished: u64,
}

impl Report {
    /// Answers per second within the measured window.
    pub fn throughput(&self) -> f64 {
        self.completed as f64 / self.window.as_secs_f64().max(f64::EPSILON)
    }

    /// The `q`-quantile (0..=1) of the latencies, zero when there are none.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
        self.latencies[i]
    }
}

/// Writes request number `seq` (unique within a run) into the buffer, which is empty.
pub type MakeRequest = dyn FnMut(u64, &mut Vec<u8>) + Send;

/// A realistic ~200-byte GET with a unique path and request id.
pub fn get_request(seq: u64, out: &mut Vec<u8>) {
    // splitmix64: a request id that looks random but is unique per `seq`.
    let mut z = seq.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let _ = write!(
        out,
        "GET /api/v1/items/{seq}?view=full HTTP/1.1\r\n\
         Host: foo.default.svc.cluster.local\r\n\
         User-Agent: shadowtap-load/1.0\r\n\
         Accept: application/json\r\n\
         X-Request-Id: {z:016x}-{seq:08x}\r\n\r\n"
    );
}

/// Run `load` against `addr` from a thread inside `ns`, with requests from `make`.
pub fn run(
    ns: &Netns,
    addr: SocketAddr,
    load: Load,
    make: impl FnMut(u64, &mut Vec<u8>) + Send + 'static,
) -> io::Result<Report> {
    ns.spawn(move || Generator::new(addr, load, Box::new(make))?.drive())
        .join()
        .map_err(|_| io::Error::other("load generator thread panicked"))?
}

/// One keep-alive connection.
struct Conn {
    stream: TcpStream,
    /// Received bytes not yet framed.
    input: Vec<u8>,
    /// The request being written, and how much of it is out.
    output: Vec<u8>,
    written: usize,
    /// Registered for writability (a write was short).
    want_write: bool,
    /// Latency origin of the request in flight.
    in_flight: Option<Instant>,
    /// Open loop: scheduled times of requests waiting for this connection.
    backlog: VecDeque<Instant>,
}

impl Conn {
    fn open(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        Ok(Self {
            stream,
            input: Vec::with_capacity(4096),
            output: Vec::with_capacity(512),
            written: 0,
            want_write: false,
            in_flight: None,
            backlog: VecDeque::new(),
        })
    }

    fn idle(&self) -> bool {
        self.in_flight.is_none() && self.backlog.is_empty()
    }
}

struct Generator {
    addr: SocketAddr,
    load: Load,
    make: Box<MakeRequest>,
    poller: Poller,
    conns: Vec<Conn>,
    start: Instant,
    measure_from: Instant,
    end: Instant,
    seq: u64,
    report: Report,
}

impl Generator {
    fn new(addr: SocketAddr, load: Load, make: Box<MakeRequest>) -> io::Result<Self> {
        set_timer_slack(Duration::from_micros(1));
        let n = load.connections.max(1);
        let poller = Poller::new(n)?;
        let conns = (0..n)
            .map(|_| Conn::open(addr))
            .collect::<io::Result<Vec<_>>>()?;
        for (i, c) in conns.iter().enumerate() {
            poller.add(c.stream.as_raw_fd(), i as u64, false)?;
        }
        let start = Instant::now();
        Ok(Self {
            addr,
            load,
            make,
            poller,
            conns,
            start,
            measure_from: start + load.warmup,
            end: start + load.warmup + load.duration,
            seq: 0,
            report: Report {
                window: load.duration,
                ..Report::default()
            },
        })
    }

    /// The open-loop schedule: when request `k` is due.
    fn due(&self, k: u64, rate: f64) -> Instant {
        self.start + Duration::from_secs_f64(k as f64 / rate)
    }

    fn drive(mut self) -> io::Result<Report> {
        let drain_deadline = self.end + self.load.drain;
        let mut next = 0u64;
        if let Mode::Closed = self.load.mode {
            for c in 0..self.conns.len() {
                self.send(c, Instant::now())?;
            }
        }
        let mut events = Vec::with_capacity(self.conns.len());
        loop {
            let now = Instant::now();
            // Before the end, wake at the end at the latest (the schedule may be done while
            // answers are all in); after it, wait for the last answers until the deadline.
            let mut wake = if now < self.end {
                self.end
            } else {
                drain_deadline
            };
            if let Mode::Open { rate } = self.load.mode {
                loop {
                    let due = self.due(next, rate);
                    if due >= self.end {
                        break;
                    }
                    if due > now {
                        wake = due;
                        break;
                    }
                    let c = (next % self.conns.len() as u64) as usize;
                    if self.conns[c].idle() {
                        self.send(c, due)?;
                    } else {
                        self.conns[c].backlog.push_back(due);
                    }
                    next += 1;
                }
            }
            let scheduled_all = now >= self.end || matches!(self.load.mode, Mode::Closed);
            if scheduled_all && self.conns.iter().all(Conn::idle) {
                break;
            }
            if now >= drain_deadline {
                self.report.unfinished = self
                    .conns
                    .iter()
                    .map(|c| c.backlog.len() as u64 + u64::from(c.in_flight.is_some()))
                    .sum();
                break;
            }
            events.clear();
            self.poller
                .wait(Some(wake.saturating_duration_since(now)), &mut events)?;
            for ev in &events {
                self.handle(*ev)?;
            }
        }
        self.report.latencies.sort_unstable();
        Ok(self.report)
    }

    /// Start a request on connection `c` whose latency counts from `origin`.
    fn send(&mut self, c: usize, origin: Instant) -> io::Result<()> {
        let conn = &mut self.conns[c];
        conn.output.clear();
        conn.written = 0;
        (self.make)(self.seq, &mut conn.output);
        self.seq += 1;
        self.report.sent += 1;
        conn.in_flight = Some(origin);
        self.flush(c)
    }

    /// Write what is left of the request; watch for writability if the socket is full.
    fn flush(&mut self, c: usize) -> io::Result<()> {
        let conn = &mut self.conns[c];
        while conn.written < conn.output.len() {
            match conn.stream.write(&conn.output[conn.written..]) {
                Ok(n) => conn.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A broken connection shows up as readable (EOF/error) and is handled there.
                Err(_) => break,
            }
        }
        let want = conn.written < conn.output.len();
        if want != conn.want_write {
            conn.want_write = want;
            self.poller
                .modify(conn.stream.as_raw_fd(), c as u64, want)?;
        }
        Ok(())
    }

    fn handle(&mut self, ev: Event) -> io::Result<()> {
        let c = ev.token as usize;
        if ev.writable {
            self.flush(c)?;
        }
        if !ev.readable {
            return Ok(());
        }
        let mut chunk = [0u8; 16 * 1024];
        let mut closed = false;
        loop {
            match self.conns[c].stream.read(&mut chunk) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => self.conns[c].input.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        let now = Instant::now();
        loop {
            let framed = match response::frame(&self.conns[c].input) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    return Err(io::Error::other(format!(
                        "unframeable response from {}: {e:?}",
                        self.addr
                    )))
                }
            };
            self.conns[c].input.drain(..framed.len);
            if (100..200).contains(&framed.status) {
                continue;
            }
            self.answered(c, now, framed.status);
            if framed.close {
                closed = true;
                break;
            }
            self.next_request(c, now)?;
        }
        if closed {
            self.reconnect(c, now)?;
        }
        Ok(())
    }

    /// Account for the answer to connection `c`'s request in flight.
    fn answered(&mut self, c: usize, now: Instant, status: u16) {
        let Some(origin) = self.conns[c].in_flight.take() else {
            return;
        };
        let r = &mut self.report;
        r.answered += 1;
        if !(200..300).contains(&status) {
            r.non_2xx += 1;
        }
        if origin >= self.measure_from && origin < self.end {
            r.latencies.push(now.saturating_duration_since(origin));
        }
        if now >= self.measure_from && now < self.end {
            r.completed += 1;
        }
    }

    /// Send connection `c`'s next request, if any is due.
    fn next_request(&mut self, c: usize, now: Instant) -> io::Result<()> {
        if self.conns[c].in_flight.is_some() {
            return Ok(());
        }
        match self.load.mode {
            Mode::Open { .. } => match self.conns[c].backlog.pop_front() {
                Some(origin) => self.send(c, origin),
                None => Ok(()),
            },
            Mode::Closed if now < self.end => self.send(c, now),
            Mode::Closed => Ok(()),
        }
    }

    /// Replace connection `c` after the server closed it; its request in flight is lost.
    fn reconnect(&mut self, c: usize, now: Instant) -> io::Result<()> {
        if self.conns[c].in_flight.take().is_some() {
            self.report.failed += 1;
        }
        let _ = self.poller.remove(self.conns[c].stream.as_raw_fd());
        let backlog = std::mem::take(&mut self.conns[c].backlog);
        self.conns[c] = Conn::open(self.addr)?;
        self.conns[c].backlog = backlog;
        self.poller
            .add(self.conns[c].stream.as_raw_fd(), c as u64, false)?;
        self.next_request(c, now)
    }
}
