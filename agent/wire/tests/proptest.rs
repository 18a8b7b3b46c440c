//! Properties of the HTTP/1 grammar: chunked encode → decode round trips, and parsing fed in
//! arbitrary pieces equals parsing fed at once, for request heads, chunked bodies and
//! responses.
#![allow(clippy::unwrap_used, missing_docs)]

use proptest::prelude::*;
use shadowtap_wire::http1::content_length::ContentLength;
use shadowtap_wire::http1::{
    parse_request_head, ChunkedDecoder, ContentLengthError, FinalResponse, Framing, Method,
    Progress, ReadProgress, ResponseLimits, ResponseReader, Status,
};

/// One chunk: data, the size written with extra leading zeros and in upper or lower case,
/// and an optional extension.
#[derive(Clone, Debug)]
struct Chunk {
    data: Vec<u8>,
    zeros: usize,
    upper: bool,
    ext: Option<String>,
}

fn chunk() -> impl Strategy<Value = Chunk> {
    (
        proptest::collection::vec(any::<u8>(), 1..300),
        0..3usize,
        any::<bool>(),
        proptest::option::of("[a-z]{1,5}(=[a-z0-9\"]{0,6})?"),
    )
        .prop_map(|(data, zeros, upper, ext)| Chunk {
            data,
            zeros,
            upper,
            ext,
        })
}

fn trailer() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9-]{0,10}: [ -~]{0,12}"
}

fn encode(chunks: &[Chunk], trailers: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in chunks {
        out.extend(std::iter::repeat_n(b'0', c.zeros));
        let size = if c.upper {
            format!("{:X}", c.data.len())
        } else {
            format!("{:x}", c.data.len())
        };
        out.extend_from_slice(size.as_bytes());
        if let Some(ext) = &c.ext {
            out.push(b';');
            out.extend_from_slice(ext.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&c.data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n");
    for t in trailers {
        out.extend_from_slice(t.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Cut points (sorted, within `len`) from arbitrary numbers.
fn cuts(len: usize, raw: &[usize]) -> Vec<usize> {
    let mut c: Vec<usize> = raw.iter().map(|r| r % (len + 1)).collect();
    c.sort_unstable();
    c.dedup();
    c
}

fn pieces<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    for &c in cuts.iter().chain(std::iter::once(&bytes.len())) {
        out.push(&bytes[at..c]);
        at = c;
    }
    out
}

fn chunk_data(body: &[u8], d: &mut ChunkedDecoder) -> Vec<u8> {
    d.take_chunks()
        .into_iter()
        .flat_map(|r| body[r].to_vec())
        .collect()
}

/// Content-Length by the letter of RFC 9110 §8.6 as shadowtap reads it: every element of
/// every field line, trimmed of OWS, is 1 to 19 decimal digits fitting in 64 bits, and all are
/// equal; the first error wins.
fn content_length_reference(lines: &[String]) -> Option<Result<u64, ContentLengthError>> {
    let mut first: Option<u64> = None;
    for line in lines {
        for element in line.split(',') {
            let e = element.trim_matches([' ', '\t']);
            let n = (!e.is_empty() && e.len() <= 19 && e.bytes().all(|b| b.is_ascii_digit()))
                .then(|| e.parse::<u64>().ok())
                .flatten();
            match (n, first) {
                (None, _) => return Some(Err(ContentLengthError::Invalid)),
                (Some(n), Some(f)) if n != f => {
                    return Some(Err(ContentLengthError::Conflicting { first: f, other: n }))
                }
                (Some(n), _) => first = Some(n),
            }
        }
    }
    first.map(Ok)
}

proptest! {
    /// The one-number fast path and the list path of [`ContentLength::add`] read every value
    /// as the reference does (valid, lists of equal values, conflicts, junk).
    #[test]
    fn content_length_matches_the_reference(
        lines in proptest::collection::vec(
            "(\\d{1,3}|[ \t]|,|\\+|x|99999999999999999999|18446744073709551615|18446744073709551616){0,6}",
            1..4,
        ),
    ) {
        let mut c = ContentLength::default();
        for l in &lines {
            c.add(l.as_bytes());
        }
        prop_assert_eq!(c.result(), content_length_reference(&lines), "{:?}", lines);
    }

    #[test]
    fn chunked_round_trip(
        chunks in proptest::collection::vec(chunk(), 0..6),
        trailers in proptest::collection::vec(trailer(), 0..3),
        next in proptest::collection::vec(any::<u8>(), 0..20),
        raw_cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let body = encode(&chunks, &trailers);
        let stream = [body.as_slice(), next.as_slice()].concat();
        let want: Vec<u8> = chunks.iter().flat_map(|c| c.data.clone()).collect();

        let mut whole = ChunkedDecoder::new().recording();
        prop_assert_eq!(whole.feed(&stream), Ok(Progress::Done(body.len() as u64)));
        prop_assert_eq!(chunk_data(&stream, &mut whole), want.clone());

        let mut cut = ChunkedDecoder::new().recording();
        let mut done = None;
        for piece in pieces(&stream, &cuts(stream.len(), &raw_cuts)) {
            match cut.feed(piece) {
                Ok(Progress::NeedMore) => {}
                Ok(Progress::Done(n)) => { done = Some(n); break; }
                Err(e) => prop_assert!(false, "valid body rejected: {e}"),
            }
        }
        prop_assert_eq!(done, Some(body.len() as u64));
        prop_assert_eq!(chunk_data(&stream, &mut cut), want);
    }

    #[test]
    fn chunked_pieces_equal_whole_on_any_bytes(
        bytes in proptest::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'0'), Just(b'a'), Just(b';'), Just(b' '), any::<u8>()],
            0..200,
        ),
        raw_cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let want = ChunkedDecoder::new().feed(&bytes);
        let mut d = ChunkedDecoder::new();
        let mut got = Ok(Progress::NeedMore);
        for piece in pieces(&bytes, &cuts(bytes.len(), &raw_cuts)) {
            got = d.feed(piece);
            if got != Ok(Progress::NeedMore) {
                break;
            }
        }
        prop_assert_eq!(got, want);
    }

    #[test]
    fn request_heads_parse_to_their_layout(
        method in proptest::sample::select(Method::ALL.to_vec()),
        path in "/[A-Za-z0-9._~%!$&'()*+,;=:@/-]{0,30}(\\?[A-Za-z0-9=&]{0,20})?",
        http10 in any::<bool>(),
        fields in proptest::collection::vec(
            ("[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,15}", "[!-~]([ -~]{0,20}[!-~])?", " {0,2}", " {0,2}"),
            0..12,
        ),
    ) {
        prop_assume!(method != Method::Connect);
        let fields: Vec<_> = fields
            .into_iter()
            .filter(|(n, _, _, _)| {
                let l = n.to_ascii_lowercase();
                l != "content-length" && l != "transfer-encoding"
            })
            .collect();
        let version = if http10 { "HTTP/1.0" } else { "HTTP/1.1" };
        let mut head = format!("{} {path} {version}\r\n", method.as_str());
        for (n, v, pre, post) in &fields {
            head.push_str(&format!("{n}:{pre}{v}{post}\r\n"));
        }
        head.push_str("\r\n");
        let h = head.as_bytes();
        let parsed = match parse_request_head(h, 100) {
            Ok(Status::Complete(p)) => p,
            other => { prop_assert!(false, "{head:?}: {other:?}"); unreachable!() }
        };
        prop_assert_eq!(parsed.head_len(), h.len());
        prop_assert_eq!(parsed.method(), method);
        prop_assert_eq!(&h[parsed.target()], path.as_bytes());
        prop_assert_eq!(parsed.framing(), Framing::None);
        prop_assert_eq!(parsed.headers().len(), fields.len());
        let mut rebuilt = h[parsed.request_line()].to_vec();
        for (f, (n, v, _, _)) in parsed.field_lines().zip(&fields) {
            prop_assert_eq!(&h[f.header.name()], n.as_bytes());
            prop_assert_eq!(&h[f.header.value()], v.as_bytes());
            rebuilt.extend_from_slice(&h[f.line]);
        }
        rebuilt.extend_from_slice(&h[parsed.blank_line()]);
        prop_assert_eq!(rebuilt, h.to_vec());
        for cut in 0..h.len() {
            prop_assert_eq!(parse_request_head(&h[..cut], 100), Ok(Status::Partial));
        }
    }

    #[test]
    fn responses_in_pieces_equal_whole(
        interim in proptest::collection::vec(
            proptest::sample::select(vec![100u16, 102, 103]), 0..3),
        status in proptest::sample::select(vec![200u16, 201, 204, 304, 404, 500, 101]),
        framing in 0..4u8,
        is_head in any::<bool>(),
        close in any::<bool>(),
        chunks in proptest::collection::vec(chunk(), 0..4),
        data in proptest::collection::vec(any::<u8>(), 0..200),
        next in proptest::collection::vec(any::<u8>(), 0..20),
        raw_cuts in proptest::collection::vec(any::<usize>(), 0..10),
    ) {
        let mut r = Vec::new();
        for s in &interim {
            r.extend_from_slice(format!("HTTP/1.1 {s} Interim\r\nX-A: 1\r\n\r\n").as_bytes());
        }
        r.extend_from_slice(format!("HTTP/1.1 {status} Final\r\n").as_bytes());
        if close {
            r.extend_from_slice(b"Connection: close\r\n");
        }
        match framing {
            0 => r.extend_from_slice(format!("Content-Length: {}\r\n\r\n", data.len()).as_bytes()),
            1 => r.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n"),
            _ => r.extend_from_slice(b"\r\n"),
        }
        let bodiless = is_head || status == 204 || status == 304 || status == 101;
        if !bodiless {
            match framing {
                0 => r.extend_from_slice(&data),
                1 => r.extend_from_slice(&encode(&chunks, &[])),
                _ => r.extend_from_slice(&data),
            }
        }
        let end = r.len();
        r.extend_from_slice(&next);

        let limits = ResponseLimits::default();
        let mut whole = ResponseReader::new(is_head, limits);
        let want = whole.feed(&r).unwrap();
        let delimited = bodiless || framing < 2;
        if delimited {
            let reusable = !close && status != 101;
            prop_assert_eq!(want, ReadProgress::Complete {
                consumed: end,
                response: FinalResponse { status, reusable },
            });
        } else {
            prop_assert_eq!(want, ReadProgress::NeedMore { consumed: r.len() });
            prop_assert_eq!(whole.end_of_stream(), Some(FinalResponse { status, reusable: false }));
        }

        let mut reader = ResponseReader::new(is_head, limits);
        let mut buf: Vec<u8> = Vec::new();
        let mut total = 0;
        let mut got = ReadProgress::NeedMore { consumed: 0 };
        for piece in pieces(&r, &cuts(r.len(), &raw_cuts)) {
            buf.extend_from_slice(piece);
            match reader.feed(&buf).unwrap() {
                ReadProgress::NeedMore { consumed } => {
                    total += consumed;
                    buf.drain(..consumed);
                    got = ReadProgress::NeedMore { consumed: total };
                }
                ReadProgress::Complete { consumed, response } => {
                    got = ReadProgress::Complete { consumed: total + consumed, response };
                    break;
                }
            }
        }
        prop_assert_eq!(got, want);
    }
}
