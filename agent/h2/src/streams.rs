//! The requests a connection is receiving: one entry per open stream, with the body bytes
//! charged as the memory they keep alive (the buffer's capacity, not its length).

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};

use crate::counters::Counter;
use crate::hpack::Field;
use crate::request::{H2Request, Malformed, PseudoHeaders};

/// A request whose header block was decoded and whose END_STREAM has not been seen.
#[derive(Debug)]
pub(crate) struct OpenStream {
    pub pseudo: PseudoHeaders,
    pub headers: Vec<Field>,
    pub content_length: Option<u64>,
    body: BytesMut,
}

impl OpenStream {
    pub fn new(pseudo: PseudoHeaders, headers: Vec<Field>, content_length: Option<u64>) -> Self {
        OpenStream {
            pseudo,
            headers,
            content_length,
            body: BytesMut::new(),
        }
    }

    /// Body bytes received so far.
    pub fn body_len(&self) -> usize {
        self.body.len()
    }

    /// The finished request, or why it is malformed (a Content-Length the body contradicts).
    pub fn into_request(self, id: u32, trailers: Vec<Field>) -> Result<H2Request, Malformed> {
        if self
            .content_length
            .is_some_and(|n| n != self.body.len() as u64)
        {
            return Err(Malformed::ContentLength);
        }
        Ok(H2Request {
            stream_id: id,
            pseudo: self.pseudo,
            headers: self.headers,
            body: freeze(self.body),
            trailers,
        })
    }
}

/// A body handed out keeps no spare capacity alive.
fn freeze(body: BytesMut) -> Bytes {
    if body.capacity() > body.len() + body.len() / 8 {
        Bytes::copy_from_slice(&body)
    } else {
        body.freeze()
    }
}

/// The open streams of one connection.
#[derive(Debug, Default)]
pub(crate) struct StreamTable {
    map: HashMap<u32, OpenStream>,
    held: usize,
}

impl StreamTable {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Bytes the bodies keep alive.
    pub fn held(&self) -> usize {
        self.held
    }

    pub fn contains(&self, id: u32) -> bool {
        self.map.contains_key(&id)
    }

    pub fn insert(&mut self, id: u32, s: OpenStream) {
        self.held += s.body.capacity();
        if let Some(old) = self.map.insert(id, s) {
            self.held -= old.body.capacity();
        }
    }

    pub fn remove(&mut self, id: u32) -> Option<OpenStream> {
        let s = self.map.remove(&id)?;
        self.held -= s.body.capacity();
        Some(s)
    }

    /// Append DATA to stream `id`, within the body limit and the connection's budget (of
    /// which `others` is held outside this table). Over either, the stream is removed and
    /// the drop reason returned with the body bytes it discarded (those held and `data`).
    pub fn append(
        &mut self,
        id: u32,
        data: &[u8],
        max_body: usize,
        budget: usize,
        others: usize,
    ) -> Result<(), (Counter, usize)> {
        let Some(s) = self.map.get_mut(&id) else {
            return Ok(());
        };
        let len = s.body.len() + data.len();
        let cap = s.body.capacity();
        // What the buffer grows to: the next power of two (bounded by the body limit), and
        // at least double, as the allocator's amortised growth does.
        let grown = if cap >= len {
            cap
        } else {
            len.next_power_of_two().min(max_body).max(len).max(2 * cap)
        };
        let verdict = if len > max_body {
            Some(Counter::DroppedBodyTooLarge)
        } else if others + self.held - cap + grown > budget {
            Some(Counter::DroppedConnectionBudget)
        } else {
            None
        };
        if let Some(reason) = verdict {
            let held = s.body.len();
            self.remove(id);
            return Err((reason, held + data.len()));
        }
        let before = cap;
        if cap < len {
            s.body.reserve(grown - s.body.len());
        }
        s.body.extend_from_slice(data);
        self.held = self.held - before + s.body.capacity();
        Ok(())
    }

    /// Remove every stream, returning how many there were and their body bytes.
    pub fn clear(&mut self) -> (usize, usize) {
        let n = self.map.len();
        let bytes = self.map.values().map(OpenStream::body_len).sum();
        self.map.clear();
        self.held = 0;
        (n, bytes)
    }
}
