//! Human- and machine-readable output for `shadowtap replay --pcap FILE --print`: one JSON
//! object per request, and a summary of the counters.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::counters::{Counter, Counters};
use crate::http::request::Request;
use crate::http2::H2FlowRequest;

/// The JSON form of one request.
#[derive(Debug, Serialize)]
pub struct RequestLine<'a> {
    /// `client->server`.
    pub flow: String,
    /// Capture time of the first byte, ns.
    pub first_ts_ns: u64,
    /// Capture time of the last byte, ns.
    pub last_ts_ns: u64,
    /// Method.
    pub method: &'a str,
    /// Target (lossy UTF-8).
    pub target: String,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: &'a str,
    /// Host header, if any (lossy UTF-8).
    pub host: Option<String>,
    /// Number of header fields.
    pub headers: usize,
    /// Raw request length (head and body as received).
    pub raw_len: usize,
    /// Body content length (de-chunked).
    pub body_len: usize,
    /// SHA-256 of the body content (de-chunked), hex.
    pub body_sha256: String,
}

/// SHA-256 of `bytes`, hex.
fn sha256_hex(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(64);
    for b in Sha256::digest(bytes) {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

impl<'a> RequestLine<'a> {
    /// Describe `r`.
    pub fn new(r: &'a Request) -> Self {
        let body = r.body();
        let hex = sha256_hex(&body);
        Self {
            flow: r.flow().to_string(),
            first_ts_ns: r.first_ts_ns(),
            last_ts_ns: r.last_ts_ns(),
            method: r.method().as_str(),
            target: String::from_utf8_lossy(r.target()).into_owned(),
            version: match r.version() {
                crate::Version::Http10 => "HTTP/1.0",
                crate::Version::Http11 => "HTTP/1.1",
            },
            host: r.host().map(|h| String::from_utf8_lossy(h).into_owned()),
            headers: r.header_count(),
            raw_len: r.len(),
            body_len: body.len(),
            body_sha256: hex,
        }
    }
}

/// One JSON line (no trailing newline) describing `r`.
pub fn json_line(r: &Request) -> String {
    serde_json::to_string(&RequestLine::new(r)).unwrap_or_default()
}

/// The JSON form of one HTTP/2 request (`"version": "HTTP/2"`; `target` is `:path`,
/// `host` is `:authority`).
#[derive(Debug, Serialize)]
pub struct H2RequestLine {
    /// `client->server`.
    pub flow: String,
    /// Capture time of the segment that completed it, ns.
    pub last_ts_ns: u64,
    /// The stream it was sent on.
    pub stream_id: u32,
    /// `:method` (lossy UTF-8).
    pub method: String,
    /// `:path` (lossy UTF-8).
    pub target: String,
    /// Always `HTTP/2`.
    pub version: &'static str,
    /// `:authority`, if any (lossy UTF-8).
    pub host: Option<String>,
    /// Number of regular header fields.
    pub headers: usize,
    /// Number of trailer fields.
    pub trailers: usize,
    /// Body length (DATA payloads, padding removed).
    pub body_len: usize,
    /// SHA-256 of the body, hex.
    pub body_sha256: String,
}

impl H2RequestLine {
    /// Describe `r`.
    pub fn new(r: &H2FlowRequest) -> Self {
        let q = &r.request;
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        Self {
            flow: r.flow.to_string(),
            last_ts_ns: r.last_ts_ns,
            stream_id: q.stream_id,
            method: lossy(&q.pseudo.method),
            target: q.pseudo.path.as_deref().map(lossy).unwrap_or_default(),
            version: "HTTP/2",
            host: q.pseudo.authority.as_deref().map(lossy),
            headers: q.headers.len(),
            trailers: q.trailers.len(),
            body_len: q.body.len(),
            body_sha256: sha256_hex(&q.body),
        }
    }
}

/// One JSON line (no trailing newline) describing the HTTP/2 request `r`.
pub fn json_line_h2(r: &H2FlowRequest) -> String {
    serde_json::to_string(&H2RequestLine::new(r)).unwrap_or_default()
}

/// A text summary of the HTTP/2 decoders' counters: connections, requests emitted and
/// dropped, the conservation check, then every non-zero counter as `h2 name value`.
pub fn summary_h2(c: &shadowtap_h2::Counters, open_streams: u64) -> String {
    use shadowtap_h2::Counter as H2;
    let mut s = format!(
        "http2: connections {} midstream {} streams {} emitted {} dropped {} open {} conservation {}\n",
        c.get(H2::H2Connections),
        c.get(H2::H2Midstream),
        c.get(H2::StreamsStarted),
        c.get(H2::RequestsEmitted),
        c.streams_dropped(),
        open_streams,
        if c.check_conservation(open_streams) {
            "ok"
        } else {
            "VIOLATED"
        },
    );
    for (counter, v) in c.iter().filter(|(_, v)| *v != 0) {
        s.push_str(&format!("h2 {} {}\n", counter.name(), v));
    }
    s
}

/// A text summary: emitted/dropped totals, the conservation check, then every non-zero
/// counter as `name value`, one per line.
pub fn summary(c: &Counters, in_progress: u64) -> String {
    let mut s = format!(
        "requests: started {} emitted {} dropped {} in_progress {} conservation {}\n",
        c.get(Counter::RequestsStarted),
        c.get(Counter::RequestsEmitted),
        c.requests_dropped(),
        in_progress,
        if c.check_conservation(in_progress) {
            "ok"
        } else {
            "VIOLATED"
        },
    );
    for (counter, v) in c.iter().filter(|(_, v)| *v != 0) {
        s.push_str(&format!("{} {}\n", counter.name(), v));
    }
    s
}

/// The counters as one JSON object `{name: value}` (all of them, zeros included).
pub fn counters_json(c: &Counters) -> String {
    let map: serde_json::Map<String, serde_json::Value> = c
        .iter()
        .map(|(k, v)| (k.name().to_string(), serde_json::Value::from(v)))
        .collect();
    serde_json::Value::Object(map).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, FlowKey, Reconstructor, Segment};
    use bytes::Bytes;

    #[test]
    fn renders() {
        let flow = FlowKey::new(
            "10.0.0.1:1234".parse().expect("addr"),
            "[2001:db8::1]:80".parse().expect("addr"),
        );
        let mut r = Reconstructor::new(Config::default());
        let raw = b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let reqs: Vec<_> = r
            .push(Segment::new(flow, 7, 0, 9, Bytes::from_static(raw)))
            .collect();
        assert_eq!(reqs.len(), 1);
        let v: serde_json::Value = serde_json::from_str(&json_line(&reqs[0])).expect("json");
        assert_eq!(v["flow"], "10.0.0.1:1234->[2001:db8::1]:80");
        assert_eq!(v["method"], "POST");
        assert_eq!(v["host"], "h");
        assert_eq!(v["headers"], 2);
        assert_eq!(v["body_len"], 3);
        assert_eq!(
            v["body_sha256"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let s = summary(r.counters(), 0);
        assert!(s.contains("conservation ok"), "{s}");
        assert!(s.contains("requests_emitted 1"));
        let j: serde_json::Value =
            serde_json::from_str(&counters_json(r.counters())).expect("json");
        assert_eq!(j["requests_emitted"], 1);
    }
}
