//! Connection options (RFC 9110 §7.6.1) and persistence (RFC 9112 §9.3): whether a
//! connection stays open after a message.

use super::method::Version;
use super::token::list_elements;

/// The options of a message's Connection field lines that shadowtap acts on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConnectionOptions {
    /// `close`: the sender closes the connection after this message's exchange.
    pub close: bool,
    /// `keep-alive`: an HTTP/1.0 sender keeps the connection open.
    pub keep_alive: bool,
    /// `upgrade`: the Upgrade field is meant for the next hop (RFC 9110 §7.8).
    pub upgrade: bool,
}

impl ConnectionOptions {
    /// Takes the value of one Connection field line.
    pub fn add(&mut self, value: &[u8]) {
        // The usual values, without splitting a list (the value has no surrounding
        // whitespace).
        // Exact spellings first: a byte comparison, before the case-insensitive one.
        if value == b"keep-alive"
            || value == b"Keep-Alive"
            || value.eq_ignore_ascii_case(b"keep-alive")
        {
            self.keep_alive = true;
            return;
        }
        if value == b"close" || value.eq_ignore_ascii_case(b"close") {
            self.close = true;
            return;
        }
        for option in list_elements(value) {
            if option.eq_ignore_ascii_case(b"close") {
                self.close = true;
            } else if option.eq_ignore_ascii_case(b"keep-alive") {
                self.keep_alive = true;
            } else if option.eq_ignore_ascii_case(b"upgrade") {
                self.upgrade = true;
            }
        }
    }

    /// Whether the connection persists after a message of `version` with these options:
    /// HTTP/1.1 unless `close`; HTTP/1.0 only with `keep-alive` and without `close`.
    pub fn persistent(&self, version: Version) -> bool {
        match version {
            Version::Http11 => !self.close,
            Version::Http10 => self.keep_alive && !self.close,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(values: &[&str]) -> ConnectionOptions {
        let mut o = ConnectionOptions::default();
        for v in values {
            o.add(v.as_bytes());
        }
        o
    }

    #[test]
    fn persistence() {
        assert!(options(&[]).persistent(Version::Http11));
        assert!(!options(&[]).persistent(Version::Http10));
        assert!(!options(&["Close"]).persistent(Version::Http11));
        assert!(options(&["keep-alive"]).persistent(Version::Http10));
        assert!(!options(&["keep-alive, close"]).persistent(Version::Http10));
        assert!(!options(&["keep-alive", "close"]).persistent(Version::Http11));
        assert!(options(&["closed"]).persistent(Version::Http11));
        assert!(options(&["Upgrade"]).upgrade);
    }
}
