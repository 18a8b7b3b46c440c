//! Keeping the [`Store`] in step with the reflectors, key by key.
//!
//! Each watched kind has a [`Slot`]: its reflector's reader and the keys its watch events
//! touched since the store was last brought in step (a relist marks the whole kind). After
//! the debounce, [`Synced::apply`] puts the reflector's allocation of each touched object
//! into the store (or removes it): nothing is copied, and an object whose content did not
//! change keeps its old allocation, so the planner's per-route cache stays valid for it.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use futures::FutureExt;
use kube::runtime::reflector::{ObjectRef, Store as Reader};
use kube::runtime::watcher::Event;
use kube::Resource;

use super::kube_source::KubeSourceError;
use crate::model::{Shared, Store, StoreKind};

/// The keys a watch touched since the last [`Synced::apply`].
struct Touched<K: Resource> {
    /// A relist started or ended: bring the whole kind in step.
    all: bool,
    refs: HashSet<ObjectRef<K>>,
}

/// Records the keys watch events touch; shared between a watch stream and its [`Slot`].
pub struct Tracker<K: Resource> {
    touched: Arc<Mutex<Touched<K>>>,
    dyntype: K::DynamicType,
}

impl<K: Resource> Clone for Tracker<K>
where
    K::DynamicType: Clone,
{
    fn clone(&self) -> Self {
        Self {
            touched: self.touched.clone(),
            dyntype: self.dyntype.clone(),
        }
    }
}

impl<K> Tracker<K>
where
    K: Resource,
    K::DynamicType: Clone + Eq + std::hash::Hash,
{
    /// A tracker that starts with the whole kind touched (nothing is in the store yet).
    pub fn new(dyntype: K::DynamicType) -> Self {
        Self {
            touched: Arc::new(Mutex::new(Touched {
                all: true,
                refs: HashSet::new(),
            })),
            dyntype,
        }
    }

    /// Notes the keys `event` touches.
    pub fn record(&self, event: &Event<K>) {
        let mut t = self.touched.lock().unwrap_or_else(PoisonError::into_inner);
        match event {
            Event::Apply(o) | Event::Delete(o) => {
                t.refs
                    .insert(ObjectRef::from_obj_with(o, self.dyntype.clone()));
            }
            Event::Init | Event::InitApply(_) | Event::InitDone => t.all = true,
        }
    }

    fn take(&self) -> Touched<K> {
        let mut t = self.touched.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(
            &mut t,
            Touched {
                all: false,
                refs: HashSet::new(),
            },
        )
    }
}

/// Turns a reflector's object into the store's (the identity for most kinds).
pub type Convert<K, T> = fn(&Arc<K>) -> Result<Shared<T>, KubeSourceError>;

/// One watched kind: its reader, its tracker, and how its objects enter the store.
pub struct Slot<K: Resource + 'static, T>
where
    K::DynamicType: Eq + std::hash::Hash,
{
    /// Resource plural (for logs and readiness).
    pub resource: &'static str,
    reader: Reader<K>,
    tracker: Tracker<K>,
    convert: Convert<K, T>,
}

impl<K, T> Slot<K, T>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Clone + Eq + std::hash::Hash,
{
    /// A slot over `reader`, fed by `tracker`.
    pub fn new(
        resource: &'static str,
        reader: Reader<K>,
        tracker: Tracker<K>,
        convert: Convert<K, T>,
    ) -> Self {
        Self {
            resource,
            reader,
            tracker,
            convert,
        }
    }

    /// The reader (every object of the kind, as received).
    pub fn reader(&self) -> &Reader<K> {
        &self.reader
    }

    /// Whether events arrived since the last call (for kinds brought in step as a whole).
    pub fn take_touched(&self) -> bool {
        let t = self.tracker.take();
        t.all || !t.refs.is_empty()
    }
}

/// The identity conversion: the reflector's allocation itself.
pub fn same<K>(o: &Arc<K>) -> Result<Shared<K>, KubeSourceError> {
    Ok(Shared::from(Arc::clone(o)))
}

/// A kind the store is kept in step with, whatever its type.
pub trait Synced: Send + Sync {
    /// Resource plural.
    fn resource(&self) -> &'static str;
    /// Whether the initial list completed.
    fn ready(&self) -> bool;
    /// Brings the store in step with the reflector for the keys touched since the last call;
    /// returns whether the store changed. Objects that cannot be converted are reported in
    /// `errors` and left out.
    fn apply(&self, store: &mut Store, errors: &mut Vec<KubeSourceError>) -> bool;
}

impl<K, T> Synced for Slot<K, T>
where
    K: Resource + Clone + Send + Sync + 'static,
    K::DynamicType: Clone + Eq + std::hash::Hash + Send + Sync,
    T: StoreKind + PartialEq + Send + Sync,
{
    fn resource(&self) -> &'static str {
        self.resource
    }

    fn ready(&self) -> bool {
        self.reader.wait_until_ready().now_or_never().is_some()
    }

    fn apply(&self, store: &mut Store, errors: &mut Vec<KubeSourceError>) -> bool {
        let touched = self.tracker.take();
        let convert = |o: &Arc<K>, errors: &mut Vec<KubeSourceError>| match (self.convert)(o) {
            Ok(s) => Some(s),
            Err(e) => {
                errors.push(e);
                None
            }
        };
        if touched.all {
            let objects: Vec<Shared<T>> = self
                .reader
                .state()
                .iter()
                .filter_map(|o| convert(o, errors))
                .collect();
            return sync_all(store, objects);
        }
        let mut changed = false;
        for r in touched.refs {
            let key = T::key_from(r.namespace.as_deref(), &r.name);
            match self.reader.get(&r).and_then(|o| convert(&o, errors)) {
                Some(obj) => changed |= put_if_changed(store, key, obj),
                None => changed |= store.remove::<T>(&key).is_some(),
            }
        }
        changed
    }
}

/// Puts `obj` unless the store holds an equal object under `key` (which keeps its
/// allocation); returns whether the store changed.
pub(super) fn put_if_changed<T: StoreKind + PartialEq>(
    store: &mut Store,
    key: T::Key,
    obj: Shared<T>,
) -> bool {
    if T::map(store).get(&key).is_some_and(|old| *old == obj) {
        return false;
    }
    store.put(obj);
    true
}

/// Brings the kind `T` of the store to exactly `objects`; returns whether it changed.
pub fn sync_all<T: StoreKind + PartialEq>(store: &mut Store, objects: Vec<Shared<T>>) -> bool {
    let wanted: BTreeMap<T::Key, Shared<T>> =
        objects.into_iter().map(|o| (T::store_key(&o), o)).collect();
    let gone: Vec<T::Key> = T::map(store)
        .keys()
        .filter(|k| !wanted.contains_key(*k))
        .cloned()
        .collect();
    let mut changed = !gone.is_empty();
    for k in gone {
        store.remove::<T>(&k);
    }
    for (k, o) in wanted {
        changed |= put_if_changed(store, k, o);
    }
    changed
}
