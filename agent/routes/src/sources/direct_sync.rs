//! Watches that feed the store directly, without a reflector: for the kinds a large
//! cluster has most of (EndpointSlices, Services).
//!
//! A reflector keeps every object of its kind (and a key per object holding its name,
//! namespace, uid and resourceVersion) beside the store; when the store keeps another form
//! of the object (the compact EndpointSlice) the reflector's copy would stay alive for
//! nothing. Here each watch event is converted on receipt and only the changes since the
//! store was last brought in step are held ([`Direct`]): a relist is buffered until it
//! completes and then replaces the kind, as the reflector's writer does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::kube_source::{Events, KubeSourceError};
use super::store_sync::{put_if_changed, sync_all, Synced};
use crate::model::{Shared, Store, StoreKind};

/// What arrived since the store was last brought in step.
struct Pending<T: StoreKind> {
    /// A list in progress (between `Init` and `InitDone`).
    listing: Option<Vec<Shared<T>>>,
    /// A complete list not yet applied: the kind is exactly this.
    listed: Option<Vec<Shared<T>>>,
    /// Objects changed (`Some`) or deleted (`None`) after it, by key.
    changes: BTreeMap<T::Key, Option<Shared<T>>>,
    /// Whether a list completed once.
    ready: bool,
}

/// One kind fed straight from its watch into the store.
pub struct Direct<T: StoreKind> {
    resource: &'static str,
    pending: Arc<Mutex<Pending<T>>>,
}

impl<T: StoreKind> Direct<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending<T>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Applies one watch event of an object converted with `convert` to `pending`.
fn record<K, T>(pending: &Mutex<Pending<T>>, event: watcher::Event<K>, convert: fn(K) -> T)
where
    K: Resource,
    T: StoreKind,
{
    let mut p = pending.lock().unwrap_or_else(PoisonError::into_inner);
    match event {
        watcher::Event::Init => p.listing = Some(Vec::new()),
        watcher::Event::InitApply(o) => {
            let o = Shared::new(convert(o));
            p.listing.get_or_insert_with(Vec::new).push(o);
        }
        watcher::Event::InitDone => {
            // The list supersedes every change before it.
            p.listed = Some(p.listing.take().unwrap_or_default());
            p.changes.clear();
            p.ready = true;
        }
        watcher::Event::Apply(o) => {
            let o = Shared::new(convert(o));
            p.changes.insert(T::store_key(&o), Some(o));
        }
        watcher::Event::Delete(o) => {
            let key = T::key_from(o.namespace().as_deref(), &o.name_any());
            p.changes.insert(key, None);
        }
    }
}

/// A watch of kind `K` whose objects enter the store as `T` (`convert`, applied on
/// receipt), and the events that drive it.
pub fn direct<K, T>(
    api: Api<K>,
    cfg: watcher::Config,
    convert: fn(K) -> T,
    resource: &'static str,
) -> (Direct<T>, Events)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
    T: StoreKind + Send + Sync + 'static,
    T::Key: Send,
{
    let pending = Arc::new(Mutex::new(Pending {
        listing: None,
        listed: None,
        changes: BTreeMap::new(),
        ready: false,
    }));
    let events = {
        let pending = pending.clone();
        watcher(api, cfg)
            .default_backoff()
            .map(move |r| match r {
                Ok(event) => {
                    record(&pending, event, convert);
                    Ok(())
                }
                Err(source) => Err(KubeSourceError::Watch {
                    resource,
                    source: Box::new(source),
                }),
            })
            .boxed()
    };
    (Direct { resource, pending }, events)
}

impl<T> Synced for Direct<T>
where
    T: StoreKind + PartialEq + Send + Sync,
    T::Key: Send,
{
    fn resource(&self) -> &'static str {
        self.resource
    }

    fn ready(&self) -> bool {
        self.lock().ready
    }

    fn apply(&self, store: &mut Store, _errors: &mut Vec<KubeSourceError>) -> bool {
        let (listed, changes) = {
            let mut p = self.lock();
            (p.listed.take(), std::mem::take(&mut p.changes))
        };
        let mut changed = false;
        if let Some(all) = listed {
            changed |= sync_all(store, all);
        }
        for (key, obj) in changes {
            changed |= match obj {
                Some(o) => put_if_changed(store, key, o),
                None => store.remove::<T>(&key).is_some(),
            };
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CompactSlice, ObjectKey};
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    use serde_json::json;

    fn slice(name: &str, ip: &str) -> EndpointSlice {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns",
                "labels": {"kubernetes.io/service-name": "svc"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [ip]}]
        }))
        .expect("slice")
    }

    fn direct_slices() -> Direct<CompactSlice> {
        Direct {
            resource: "endpointslices",
            pending: Arc::new(Mutex::new(Pending {
                listing: None,
                listed: None,
                changes: BTreeMap::new(),
                ready: false,
            })),
        }
    }

    fn feed(d: &Direct<CompactSlice>, e: watcher::Event<EndpointSlice>) {
        record(&d.pending, e, CompactSlice::new);
    }

    #[test]
    fn a_list_then_changes_reach_the_store_and_a_relist_replaces_the_kind() {
        let d = direct_slices();
        let mut store = Store::new();
        let mut errors = Vec::new();
        feed(&d, watcher::Event::Init);
        feed(&d, watcher::Event::InitApply(slice("a", "10.0.0.1")));
        feed(&d, watcher::Event::InitApply(slice("b", "10.0.0.2")));
        assert!(!d.ready(), "not ready before the list completes");
        assert!(!d.apply(&mut store, &mut errors), "nothing before InitDone");
        feed(&d, watcher::Event::InitDone);
        assert!(d.ready());
        assert!(d.apply(&mut store, &mut errors));
        assert_eq!(store.endpoint_slices.len(), 2);
        assert_eq!(store.slices_of(&ObjectKey::new("ns", "svc")).count(), 2);

        feed(&d, watcher::Event::Apply(slice("a", "10.0.0.9")));
        feed(&d, watcher::Event::Delete(slice("b", "10.0.0.2")));
        assert!(d.apply(&mut store, &mut errors));
        let a = &store.endpoint_slices[&ObjectKey::new("ns", "a")];
        assert_eq!(a.endpoints[0].addresses[0].to_string(), "10.0.0.9");
        assert!(!store
            .endpoint_slices
            .contains_key(&ObjectKey::new("ns", "b")));

        // The same content again changes nothing and keeps the old allocation.
        let before = a.clone();
        feed(&d, watcher::Event::Apply(slice("a", "10.0.0.9")));
        assert!(!d.apply(&mut store, &mut errors));
        assert!(Shared::same(
            &before,
            &store.endpoint_slices[&ObjectKey::new("ns", "a")]
        ));

        // A relist (after a watch error): a change before it is superseded, the list is
        // the whole kind.
        feed(&d, watcher::Event::Apply(slice("z", "10.0.0.26")));
        feed(&d, watcher::Event::Init);
        feed(&d, watcher::Event::InitApply(slice("c", "10.0.0.3")));
        feed(&d, watcher::Event::InitDone);
        assert!(d.apply(&mut store, &mut errors));
        let keys: Vec<String> = store
            .endpoint_slices
            .keys()
            .map(ToString::to_string)
            .collect();
        assert_eq!(keys, ["ns/c"]);
        assert!(errors.is_empty());
    }
}
