//! Request methods and protocol versions.

/// The request methods shadowtap decodes (RFC 9110 and PATCH, RFC 5789).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// GET.
    Get,
    /// HEAD.
    Head,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
    /// CONNECT.
    Connect,
    /// OPTIONS.
    Options,
    /// TRACE.
    Trace,
    /// PATCH.
    Patch,
}

impl Method {
    /// Every method.
    pub const ALL: [Method; 9] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Connect,
        Method::Options,
        Method::Trace,
        Method::Patch,
    ];

    /// The method token (case-sensitive, as on the wire).
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Connect => "CONNECT",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Patch => "PATCH",
        }
    }

    /// The method for a token, if it is one of the known ones (case-sensitive).
    pub fn from_token(token: &[u8]) -> Option<Method> {
        Method::ALL
            .iter()
            .copied()
            .find(|m| m.as_str().as_bytes() == token)
    }
}

/// HTTP version of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1.
    Http11,
}

impl Version {
    /// The version with this minor number (`HTTP/1.<minor>`), if it is 0 or 1.
    pub const fn from_minor(minor: u8) -> Option<Version> {
        match minor {
            0 => Some(Version::Http10),
            1 => Some(Version::Http11),
            _ => None,
        }
    }

    /// The version as on the wire (`HTTP/1.0`, `HTTP/1.1`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_round_trip() {
        for m in Method::ALL {
            assert_eq!(Method::from_token(m.as_str().as_bytes()), Some(m));
        }
        assert_eq!(Method::from_token(b"get"), None);
        assert_eq!(Method::from_token(b"PRI"), None);
    }

    #[test]
    fn versions() {
        assert_eq!(Version::from_minor(0), Some(Version::Http10));
        assert_eq!(Version::from_minor(1), Some(Version::Http11));
        assert_eq!(Version::from_minor(2), None);
        assert_eq!(Version::Http11.as_str(), "HTTP/1.1");
    }
}
