//! Draining the capture ring buffer on tokio.
//!
//! The kernel submits records without waking the reader unless the unread data passes a
//! threshold, so the reader drains on readiness *and* on a short timer. Each record is
//! validated and handed on as a [`CaptureEvent`]; a malformed record is counted and skipped.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use aya::maps::{MapData, RingBuf};
use bytes::Bytes;
use shadowtap_common::{names, RecordError, RecordHeader, RECORD_HEADER_LEN};
use tokio::io::unix::AsyncFd;

use super::{loader::Datapath, DatapathError};

/// One validated ring record: the header and the captured payload bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureEvent {
    /// The record header written by the kernel.
    pub header: RecordHeader,
    /// `header.captured_len` payload bytes.
    pub payload: Bytes,
}

/// Validate ([`RecordHeader::parse`], the one record validator) and copy one raw record.
pub fn decode_record(raw: &[u8]) -> Result<CaptureEvent, RecordError> {
    let (header, payload) = RecordHeader::parse(raw)?;
    Ok(CaptureEvent {
        header,
        payload: Bytes::copy_from_slice(payload),
    })
}

/// Counts kept by the reader.
#[derive(Debug, Default)]
pub struct RingStats {
    /// Records read and handed on.
    pub records: AtomicU64,
    /// Payload bytes handed on.
    pub bytes: AtomicU64,
    /// Records rejected as malformed.
    pub malformed: AtomicU64,
}

/// Reads the capture ring buffer.
pub struct RingReader {
    ring: AsyncFd<RingBuf<MapData>>,
    stats: Arc<RingStats>,
}

impl RingReader {
    /// Take the ring out of a loaded datapath (once). Needs a tokio runtime.
    pub fn take(dp: &mut Datapath) -> Result<Self, DatapathError> {
        let map = dp.ebpf.take_map(names::EVENTS).ok_or(DatapathError::Map {
            name: names::EVENTS,
            source: aya::maps::MapError::InvalidName {
                name: names::EVENTS.to_string(),
            },
        })?;
        let ring = RingBuf::try_from(map).map_err(|source| DatapathError::Map {
            name: names::EVENTS,
            source,
        })?;
        // SAFETY: the ring owns its map fd, which stays open and unchanged until the ring
        // (moved into the AsyncFd) is dropped together with it.
        #[allow(unsafe_code)]
        let ring = unsafe { AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) }
            .map_err(|e| DatapathError::System {
                what: "registering the ring buffer with tokio",
                source: e.into(),
            })?;
        Ok(Self {
            ring,
            stats: Arc::default(),
        })
    }

    /// The reader's counters (shared; they stay valid after the reader is moved).
    pub fn stats(&self) -> Arc<RingStats> {
        self.stats.clone()
    }

    /// Take every record now available, in order, copied into events.
    pub fn drain(&mut self, out: &mut Vec<CaptureEvent>) -> usize {
        let start = out.len();
        self.visit(usize::MAX, |raw| match decode_record(raw) {
            Ok(ev) => {
                out.push(ev);
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        });
        out.len() - start
    }

    /// Calls `f` with up to `max` raw records (a [`RecordHeader`] followed by its payload),
    /// in ring order, without copying them; each record is released from the ring when `f`
    /// returns. `Err` from `f` marks the record malformed: counted, and logged once. Returns
    /// how many records were visited.
    pub fn visit(&mut self, max: usize, mut f: impl FnMut(&[u8]) -> Result<(), String>) -> usize {
        let ring = self.ring.get_mut();
        let mut n = 0;
        while n < max {
            let Some(item) = ring.next() else { break };
            n += 1;
            match f(&item) {
                Ok(()) => {
                    self.stats.records.fetch_add(1, Ordering::Relaxed);
                    let payload = item.len().saturating_sub(RECORD_HEADER_LEN);
                    self.stats
                        .bytes
                        .fetch_add(payload as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    if self.stats.malformed.fetch_add(1, Ordering::Relaxed) == 0 {
                        tracing::warn!(error = %e, "malformed ring record skipped (logged once)");
                    }
                }
            }
        }
        n
    }

    /// Waits until the kernel signals data (a forced wake-up once the unread bytes pass the
    /// wake-up threshold) or `timeout` passes, whichever is first; below the threshold the
    /// kernel does not signal, so callers drain on a short timer too.
    pub async fn wait(&mut self, timeout: Duration) -> Result<(), DatapathError> {
        match tokio::time::timeout(timeout, self.ring.readable_mut()).await {
            Err(_) => Ok(()),
            Ok(Ok(mut guard)) => {
                guard.clear_ready();
                Ok(())
            }
            Ok(Err(e)) => Err(DatapathError::System {
                what: "polling the ring buffer",
                source: e,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(h: &RecordHeader, payload: &[u8]) -> Vec<u8> {
        let mut v = h.to_bytes().to_vec();
        v.extend_from_slice(payload);
        v
    }

    fn header(payload_len: u32, captured: u32, truncated: u8) -> RecordHeader {
        RecordHeader {
            ts_ns: 7,
            saddr: shadowtap_common::maps::ipv4_mapped([10, 0, 0, 1]),
            daddr: shadowtap_common::maps::ipv4_mapped([10, 0, 0, 2]),
            seq: 1000,
            sport: 40000u16.to_be_bytes(),
            dport: 80u16.to_be_bytes(),
            payload_len,
            captured_len: captured,
            ip_version: 4,
            truncated,
            ..Default::default()
        }
    }

    #[test]
    fn decodes_a_valid_record() {
        let h = header(5, 5, 0);
        let ev = decode_record(&raw(&h, b"GET /")).expect("valid");
        assert_eq!(ev.header, h);
        assert_eq!(&ev.payload[..], b"GET /");
        assert_eq!(ev.header.dst_port(), 80);
    }

    /// Validation itself is `RecordHeader::parse`'s (tested in common); the reader only
    /// passes its verdict on.
    #[test]
    fn malformed_records_are_errors() {
        assert_eq!(decode_record(&[0; 10]), Err(RecordError::Short { len: 10 }));
        assert!(decode_record(&raw(&header(9, 5, 0), b"GET /")).is_err());
        assert!(decode_record(&raw(&header(9, 5, 1), b"GET /")).is_ok());
    }
}
