//! User space's half of the kernel's endpoint pre-filter
//! (`shadowtap_common::endpoint_filter`): which endpoints stand behind each bit, and the
//! bitmap word to write when a bit gains its first endpoint or loses its last.
//! [`MapHandles`] calls it on every endpoint insert and removal, so the bitmap follows the
//! endpoint map by construction: a bit is written before its first endpoint is inserted and
//! cleared after its last one is removed.
//!
//! [`MapHandles`]: super::MapHandles

use std::collections::{HashMap, HashSet};

use shadowtap_common::{endpoint_slot, EndpointKey, ENDPOINT_FILTER_WORDS};

/// The bitmap as user space last wrote it, and the endpoints behind each set bit.
#[derive(Debug)]
pub struct FilterBits {
    /// Endpoints by (word, mask).
    users: HashMap<(u32, u64), HashSet<EndpointKey>>,
    words: Vec<u64>,
}

impl Default for FilterBits {
    fn default() -> Self {
        Self {
            users: HashMap::new(),
            words: vec![0; ENDPOINT_FILTER_WORDS as usize],
        }
    }
}

/// One bitmap word to write: its index and new value.
pub type WordWrite = (u32, u64);

impl FilterBits {
    /// `key` is about to be inserted: the word to write first, if its bit was clear.
    pub fn add(&mut self, key: EndpointKey) -> Option<WordWrite> {
        let slot = endpoint_slot(&key.addr, key.port);
        let set = self.users.entry(slot).or_default();
        let first = set.is_empty();
        set.insert(key);
        first.then(|| self.write(slot, true))
    }

    /// `key` was removed: the word to write, if no endpoint is left on its bit.
    pub fn remove(&mut self, key: &EndpointKey) -> Option<WordWrite> {
        let slot = endpoint_slot(&key.addr, key.port);
        let set = self.users.get_mut(&slot)?;
        if !set.remove(key) || !set.is_empty() {
            return None;
        }
        self.users.remove(&slot);
        Some(self.write(slot, false))
    }

    /// Whether `key`'s bit is set.
    #[cfg(test)]
    pub fn is_set(&self, key: &EndpointKey) -> bool {
        let (w, m) = endpoint_slot(&key.addr, key.port);
        self.words[w as usize] & m != 0
    }

    fn write(&mut self, (w, m): (u32, u64), on: bool) -> WordWrite {
        let word = &mut self.words[w as usize];
        if on {
            *word |= m;
        } else {
            *word &= !m;
        }
        (w, *word)
    }
}

#[cfg(test)]
mod tests {
    use shadowtap_common::addr_from_ip;

    use super::*;

    fn key(ip: &str, port: u16) -> EndpointKey {
        EndpointKey::new(addr_from_ip(ip.parse().expect("ip")), port)
    }

    /// Two endpoints whose bits coincide, found by search (the hash is fixed).
    fn sharing_pair() -> (EndpointKey, EndpointKey) {
        let a = key("10.0.0.1", 8080);
        let slot = endpoint_slot(&a.addr, a.port);
        for i in 2..65536u32 {
            let ip = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
            let b = key(&ip, 8080);
            if endpoint_slot(&b.addr, b.port) == slot {
                return (a, b);
            }
        }
        panic!("no two endpoints share a bit among 65 536 addresses")
    }

    #[test]
    fn a_bit_is_set_while_any_endpoint_uses_it() {
        let mut f = FilterBits::default();
        let (a, b) = sharing_pair();
        let (w, m) = endpoint_slot(&a.addr, a.port);
        assert_eq!(f.add(a), Some((w, m)));
        assert_eq!(f.add(b), None, "already set");
        assert_eq!(f.add(a), None, "an update of a known endpoint");
        assert_eq!(f.remove(&a), None, "b still uses the bit");
        assert!(f.is_set(&b));
        assert_eq!(f.remove(&b), Some((w, 0)));
        assert!(!f.is_set(&b));
        assert_eq!(
            f.remove(&b),
            None,
            "removing an absent endpoint writes nothing"
        );
    }

    #[test]
    fn bits_sharing_a_word_keep_each_other() {
        let mut f = FilterBits::default();
        let a = key("10.0.0.1", 8080);
        let (w, ma) = endpoint_slot(&a.addr, a.port);
        let b = (1..65535u16)
            .map(|p| key("10.0.0.1", p))
            .find(|k| {
                let (wb, mb) = endpoint_slot(&k.addr, k.port);
                wb == w && mb != ma
            })
            .expect("another endpoint in the same word");
        let mb = endpoint_slot(&b.addr, b.port).1;
        assert_eq!(f.add(a), Some((w, ma)));
        assert_eq!(f.add(b), Some((w, ma | mb)));
        assert_eq!(f.remove(&a), Some((w, mb)));
        assert!(f.is_set(&b) && !f.is_set(&a));
    }

    #[test]
    fn random_sequences_keep_bits_equal_to_endpoints_in_use() {
        // A deterministic xorshift over 3 ports × 3 addresses.
        let (s1, s2) = sharing_pair();
        let keys = [
            key("10.0.0.1", 80),
            key("10.0.0.2", 81),
            key("fd00::9", 8080),
            key("fd00::9", 80),
            s1,
            s2,
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut f = FilterBits::default();
        let mut live = HashSet::new();
        for _ in 0..5000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = keys[(x % keys.len() as u64) as usize];
            if x & (1 << 20) == 0 {
                f.add(k);
                live.insert(k);
            } else {
                f.remove(&k);
                live.remove(&k);
            }
            for k in &keys {
                let in_use = live
                    .iter()
                    .any(|l| endpoint_slot(&l.addr, l.port) == endpoint_slot(&k.addr, k.port));
                assert_eq!(f.is_set(k), in_use);
            }
        }
    }
}
