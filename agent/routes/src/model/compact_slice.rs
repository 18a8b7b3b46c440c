//! [`CompactSlice`]: an EndpointSlice as the store keeps it — only what planning reads.
//!
//! A k8s-openapi `EndpointSlice`, even stripped, is a tree of optional strings and vectors
//! (about 2.5 KiB per slice of two endpoints); a large cluster holds tens of thousands of
//! slices and every agent watches all of them. The compact form keeps the owning Service,
//! the address type, the ports (name, number, protocol, appProtocol) and per endpoint its
//! addresses (parsed once), conditions, node and Pod; about a fifth of the size.

use std::net::IpAddr;

use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde::Serialize;

use super::keys::ObjectKey;
use super::store::DEFAULT_NAMESPACE;

/// Label of an EndpointSlice naming its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// One port of an EndpointSlice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SlicePort {
    /// Port name (matched with the Service port's name; empty and absent are the same).
    pub name: Option<Box<str>>,
    /// Port number (absent: the slice serves no port, or one out of range).
    pub port: Option<u16>,
    /// Protocol (`TCP` when absent).
    pub protocol: Option<Box<str>>,
    /// Application protocol.
    pub app_protocol: Option<Box<str>>,
}

/// The Pod behind an endpoint (`targetRef` of kind Pod).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PodRef {
    /// Namespace (absent: the slice's).
    pub namespace: Option<Box<str>>,
    /// Pod name.
    pub name: Box<str>,
}

/// One endpoint of an EndpointSlice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SliceEndpoint {
    /// Its IP addresses (those that parse; see [`CompactSlice::invalid_addresses`]).
    pub addresses: Box<[IpAddr]>,
    /// `conditions.ready` (absent means ready, as Kubernetes says consumers should read it).
    pub ready: Option<bool>,
    /// `conditions.serving`.
    pub serving: Option<bool>,
    /// `conditions.terminating`.
    pub terminating: Option<bool>,
    /// The node it runs on.
    pub node_name: Option<Box<str>>,
    /// The Pod it is, when its `targetRef` names a Pod.
    pub pod: Option<PodRef>,
}

/// An EndpointSlice cut down to what planning reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CompactSlice {
    /// `namespace/name`.
    pub key: ObjectKey,
    /// The Service it belongs to (`kubernetes.io/service-name` label).
    pub service: Option<Box<str>>,
    /// `addressType` (`IPv4`, `IPv6`, `FQDN`).
    pub address_type: Box<str>,
    /// Ports.
    pub ports: Box<[SlicePort]>,
    /// Endpoints.
    pub endpoints: Box<[SliceEndpoint]>,
    /// Addresses of an `IPv4`/`IPv6` slice that are not IP addresses (left out of
    /// [`SliceEndpoint::addresses`]; the source logs them).
    pub invalid_addresses: u32,
}

fn boxed(s: Option<String>) -> Option<Box<str>> {
    s.map(String::into_boxed_str)
}

impl CompactSlice {
    /// The compact form of `slice`.
    pub fn new(slice: EndpointSlice) -> Self {
        let key = ObjectKey::new(
            slice
                .metadata
                .namespace
                .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
            slice.metadata.name.unwrap_or_default(),
        );
        let service = slice
            .metadata
            .labels
            .and_then(|mut l| l.remove(SERVICE_NAME_LABEL))
            .map(String::into_boxed_str);
        let fqdn = slice.address_type == "FQDN";
        let mut invalid_addresses = 0u32;
        let endpoints = slice
            .endpoints
            .into_iter()
            .flatten()
            .map(|e| {
                let addresses: Box<[IpAddr]> = e
                    .addresses
                    .iter()
                    .filter_map(|a| match a.parse::<IpAddr>() {
                        Ok(ip) => Some(ip),
                        Err(_) => {
                            if !fqdn {
                                invalid_addresses = invalid_addresses.saturating_add(1);
                            }
                            None
                        }
                    })
                    .collect();
                let conditions = e.conditions.unwrap_or_default();
                SliceEndpoint {
                    addresses,
                    ready: conditions.ready,
                    serving: conditions.serving,
                    terminating: conditions.terminating,
                    node_name: boxed(e.node_name),
                    pod: e
                        .target_ref
                        .filter(|r| r.kind.as_deref() == Some("Pod"))
                        .and_then(|r| {
                            Some(PodRef {
                                namespace: boxed(r.namespace),
                                name: r.name?.into_boxed_str(),
                            })
                        }),
                }
            })
            .collect();
        let ports = slice
            .ports
            .into_iter()
            .flatten()
            .map(|p| SlicePort {
                name: boxed(p.name),
                port: p.port.and_then(|n| u16::try_from(n).ok()),
                protocol: boxed(p.protocol),
                app_protocol: boxed(p.app_protocol),
            })
            .collect();
        Self {
            key,
            service,
            address_type: slice.address_type.into_boxed_str(),
            ports,
            endpoints,
            invalid_addresses,
        }
    }

    /// The key of its Service (same namespace), if it names one.
    pub fn service_key(&self) -> Option<ObjectKey> {
        self.service
            .as_deref()
            .map(|name| ObjectKey::new(&self.key.namespace, name))
    }

    /// The port serving the Service port named `name` (matched by name; empty and absent
    /// are the same name).
    pub fn port_named(&self, name: Option<&str>) -> Option<u16> {
        self.ports
            .iter()
            .find(|p| p.name.as_deref().unwrap_or("") == name.unwrap_or(""))
            .and_then(|p| p.port)
    }
}

impl From<EndpointSlice> for CompactSlice {
    fn from(slice: EndpointSlice) -> Self {
        Self::new(slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn slice(v: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(v).expect("slice")
    }

    #[test]
    fn keeps_what_planning_reads() {
        let c = CompactSlice::new(slice(json!({
            "metadata": {"name": "foo-x", "namespace": "shop",
                "labels": {"kubernetes.io/service-name": "foo", "app": "foo"},
                "managedFields": [{"manager": "kcm"}]},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP", "appProtocol": "kubernetes.io/h2c"}],
            "endpoints": [
                {"addresses": ["10.0.0.1", "not-an-ip"], "conditions": {"ready": false, "serving": true, "terminating": true},
                 "nodeName": "node-a", "zone": "z1",
                 "targetRef": {"kind": "Pod", "name": "foo-1", "uid": "u"}},
                {"addresses": ["fd00::1"], "targetRef": {"kind": "Node", "name": "n"}}
            ]
        })));
        assert_eq!(c.key, ObjectKey::new("shop", "foo-x"));
        assert_eq!(c.service_key(), Some(ObjectKey::new("shop", "foo")));
        assert_eq!(&*c.address_type, "IPv4");
        assert_eq!(c.port_named(Some("http")), Some(8080));
        assert_eq!(c.port_named(None), None);
        assert_eq!(
            c.ports[0].app_protocol.as_deref(),
            Some("kubernetes.io/h2c")
        );
        assert_eq!(c.invalid_addresses, 1);
        let e = &c.endpoints[0];
        assert_eq!(
            &*e.addresses,
            &["10.0.0.1".parse::<IpAddr>().expect("an address")]
        );
        assert_eq!(
            (e.ready, e.serving, e.terminating),
            (Some(false), Some(true), Some(true))
        );
        assert_eq!(e.node_name.as_deref(), Some("node-a"));
        assert_eq!(e.pod.as_ref().map(|p| &*p.name), Some("foo-1"));
        assert!(c.endpoints[1].pod.is_none(), "a Node targetRef is no Pod");
        assert_eq!(c.endpoints[1].ready, None);
    }

    #[test]
    fn fqdn_addresses_are_not_invalid() {
        let c = CompactSlice::new(slice(json!({
            "metadata": {"name": "ext", "namespace": "shop"},
            "addressType": "FQDN",
            "endpoints": [{"addresses": ["example.com"]}]
        })));
        assert_eq!(c.invalid_addresses, 0);
        assert!(c.endpoints[0].addresses.is_empty());
        assert_eq!(c.key.namespace, "shop");
        assert_eq!(c.service_key(), None);
    }

    #[test]
    fn an_out_of_range_port_is_no_port() {
        let c = CompactSlice::new(slice(json!({
            "metadata": {"name": "s"},
            "addressType": "IPv4",
            "ports": [{"name": "", "port": 70000}],
            "endpoints": []
        })));
        assert_eq!(c.key.namespace, DEFAULT_NAMESPACE);
        assert_eq!(c.port_named(None), None);
        assert!(c.ports[0].name.as_deref() == Some(""));
    }
}
