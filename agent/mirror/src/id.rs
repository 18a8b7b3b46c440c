//! [`BackendId`]: which mirror backend a request goes to.

use std::fmt;

/// A mirror backend: a Service port (`requestMirror.backendRef`). Its [`Display`](fmt::Display)
/// form `namespace/name:port` is the `backend` label of the replay metrics.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackendId {
    /// Namespace of the Service.
    pub namespace: String,
    /// Name of the Service.
    pub name: String,
    /// Service port.
    pub port: u16,
}

impl BackendId {
    /// A backend id.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>, port: u16) -> Self {
        BackendId {
            namespace: namespace.into(),
            name: name.into(),
            port,
        }
    }
}

impl fmt::Display for BackendId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}:{}", self.namespace, self.name, self.port)
    }
}
