//! Typed access to the endpoint, endpoint-filter, own-flow and counter maps.

use std::net::{IpAddr, SocketAddr};

use aya::maps::{Array, HashMap, MapData, PerCpuArray};
use shadowtap_common::{
    addr_from_ip, names, packets_seen, Counter, CounterBlock, EndpointKey, EndpointValue,
    OwnFlowKey,
};

use super::{endpoint_filter::FilterBits, loader::Datapath, DatapathError};

/// The maps user space writes (endpoints, own flows) and reads (counters), taken out of the
/// loaded object so they can live apart from it.
pub struct MapHandles {
    endpoints: HashMap<MapData, EndpointKey, EndpointValue>,
    /// The kernel's endpoint pre-filter, kept in step with `endpoints`.
    filter: Array<MapData, u64>,
    filter_bits: FilterBits,
    own_flows: HashMap<MapData, OwnFlowKey, u8>,
    counters: PerCpuArray<MapData, CounterBlock>,
}

/// Kernel counters summed over CPUs at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    values: [u64; Counter::COUNT as usize],
}

impl CounterSnapshot {
    /// The sum of per-CPU blocks as the kernel wrote them, with
    /// [`Counter::PacketsSeen`] derived from the per-packet outcomes (the kernel does not
    /// count it).
    pub fn from_blocks<'a>(blocks: impl IntoIterator<Item = &'a CounterBlock>) -> Self {
        let mut values = [0u64; Counter::COUNT as usize];
        for block in blocks {
            for (total, v) in values.iter_mut().zip(block) {
                *total = total.wrapping_add(*v);
            }
        }
        values[Counter::PacketsSeen as usize] = packets_seen(&values);
        CounterSnapshot { values }
    }

    /// The value of one counter.
    pub fn get(&self, c: Counter) -> u64 {
        self.values[c as usize]
    }

    /// Every counter with its value, in index order.
    pub fn iter(&self) -> impl Iterator<Item = (Counter, u64)> + '_ {
        Counter::ALL.iter().map(|c| (*c, self.get(*c)))
    }

    /// `self - earlier`, counter by counter (saturating).
    pub fn since(&self, earlier: &CounterSnapshot) -> CounterSnapshot {
        let mut values = self.values;
        for (v, e) in values.iter_mut().zip(earlier.values) {
            *v = v.saturating_sub(e);
        }
        CounterSnapshot { values }
    }
}

fn map_err(name: &'static str) -> impl FnOnce(aya::maps::MapError) -> DatapathError {
    move |source| DatapathError::Map { name, source }
}

fn take<T>(dp: &mut Datapath, name: &'static str) -> Result<T, DatapathError>
where
    T: TryFrom<aya::maps::Map, Error = aya::maps::MapError>,
{
    let map = dp.ebpf.take_map(name).ok_or(DatapathError::Map {
        name,
        source: aya::maps::MapError::InvalidName {
            name: name.to_string(),
        },
    })?;
    T::try_from(map).map_err(map_err(name))
}

impl MapHandles {
    /// Take the maps out of a loaded datapath (once).
    pub fn take(dp: &mut Datapath) -> Result<Self, DatapathError> {
        Ok(Self {
            endpoints: take(dp, names::ENDPOINTS)?,
            filter: take(dp, names::ENDPOINT_FILTER)?,
            filter_bits: FilterBits::default(),
            own_flows: take(dp, names::OWN_FLOWS)?,
            counters: take(dp, names::COUNTERS)?,
        })
    }

    /// Capture requests to `addr:port` with the given rule set and flow threshold. The
    /// endpoint's pre-filter bit is set first, so the kernel never skips a packet the endpoint
    /// map would match.
    pub fn upsert_endpoint(
        &mut self,
        addr: IpAddr,
        port: u16,
        value: EndpointValue,
    ) -> Result<(), DatapathError> {
        let key = EndpointKey::new(addr_from_ip(addr), port);
        if let Some(write) = self.filter_bits.add(key) {
            self.write_filter_word(write)?;
        }
        self.endpoints
            .insert(key, value, 0)
            .map_err(map_err(names::ENDPOINTS))
    }

    /// Stop capturing `addr:port`. Removing an absent endpoint is not an error. The
    /// endpoint's pre-filter bit is cleared when no endpoint is left on it.
    pub fn remove_endpoint(&mut self, addr: IpAddr, port: u16) -> Result<(), DatapathError> {
        let key = EndpointKey::new(addr_from_ip(addr), port);
        match self.endpoints.remove(&key) {
            Ok(()) | Err(aya::maps::MapError::KeyNotFound) => {}
            Err(e) => return Err(map_err(names::ENDPOINTS)(e)),
        }
        match self.filter_bits.remove(&key) {
            Some(write) => self.write_filter_word(write),
            None => Ok(()),
        }
    }

    fn write_filter_word(&mut self, (word, value): (u32, u64)) -> Result<(), DatapathError> {
        self.filter
            .set(word, value, 0)
            .map_err(map_err(names::ENDPOINT_FILTER))
    }

    /// Every endpoint currently in the map.
    pub fn endpoints(&self) -> Result<Vec<(EndpointKey, EndpointValue)>, DatapathError> {
        self.endpoints
            .iter()
            .collect::<Result<_, _>>()
            .map_err(map_err(names::ENDPOINTS))
    }

    /// Never capture the connection `local → remote` (one of the agent's own).
    pub fn add_own_flow(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<(), DatapathError> {
        self.own_flows
            .insert(own_key(local, remote), 1, 0)
            .map_err(map_err(names::OWN_FLOWS))
    }

    /// Forget an own connection (after it closed).
    pub fn remove_own_flow(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<(), DatapathError> {
        match self.own_flows.remove(&own_key(local, remote)) {
            Ok(()) | Err(aya::maps::MapError::KeyNotFound) => Ok(()),
            Err(e) => Err(map_err(names::OWN_FLOWS)(e)),
        }
    }

    /// Read every counter, summed over CPUs; `packets_seen` derived from the outcomes.
    pub fn counters(&self) -> Result<CounterSnapshot, DatapathError> {
        let per_cpu = self.counters.get(&0, 0).map_err(map_err(names::COUNTERS))?;
        Ok(CounterSnapshot::from_blocks(per_cpu.iter()))
    }
}

fn own_key(local: SocketAddr, remote: SocketAddr) -> OwnFlowKey {
    OwnFlowKey::new(
        addr_from_ip(local.ip()),
        local.port(),
        addr_from_ip(remote.ip()),
        remote.port(),
    )
}

#[cfg(test)]
mod tests {
    use shadowtap_common::{Counter, CounterBlock};

    use super::CounterSnapshot;

    #[test]
    fn blocks_sum_over_cpus_and_packets_seen_is_derived() {
        let mut cpu0: CounterBlock = [0; Counter::COUNT as usize];
        let mut cpu1 = cpu0;
        cpu0[Counter::NotMatched as usize] = 5;
        cpu0[Counter::Copied as usize] = 2;
        cpu0[Counter::BytesCopied as usize] = 300;
        cpu1[Counter::NotMatched as usize] = 1;
        cpu1[Counter::ResponsesMatched as usize] = 4;
        cpu1[Counter::OwnFlow as usize] = 4;
        // Whatever the kernel's derived slot holds is replaced by the derivation.
        cpu1[Counter::PacketsSeen as usize] = 1000;
        let snap = CounterSnapshot::from_blocks([&cpu0, &cpu1]);
        assert_eq!(snap.get(Counter::NotMatched), 6);
        assert_eq!(snap.get(Counter::BytesCopied), 300);
        assert_eq!(snap.get(Counter::PacketsSeen), 6 + 2 + 4);
        let later = CounterSnapshot::from_blocks([&cpu0, &cpu0]);
        assert_eq!(later.since(&snap).get(Counter::NotMatched), 4);
    }
}
