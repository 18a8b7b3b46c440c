//! A loaded datapath for tests: programs verified, maps and ring taken, on a small runtime.

use std::net::IpAddr;

use shadowtap_agent::datapath::{Datapath, LoadConfig, MapHandles, RingReader};
use shadowtap_common::EndpointValue;

/// The kernel side of one agent, loaded but not attached.
pub struct Loaded {
    /// The programs.
    pub dp: Datapath,
    /// Endpoint, own-flow and counter maps.
    pub maps: MapHandles,
    /// The capture ring.
    pub ring: RingReader,
    _rt: tokio::runtime::Runtime,
}

impl Loaded {
    /// Load with default settings.
    pub fn new() -> Self {
        Self::with(&LoadConfig::default())
    }

    /// Load with `cfg`.
    pub fn with(cfg: &LoadConfig) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let _guard = rt.enter();
        let mut dp = Datapath::load(cfg).expect("load eBPF programs");
        let maps = MapHandles::take(&mut dp).expect("maps");
        let ring = RingReader::take(&mut dp).expect("ring");
        Self {
            dp,
            maps,
            ring,
            _rt: rt,
        }
    }

    /// Capture `ip:port` with flow threshold `threshold`.
    pub fn capture(&mut self, ip: IpAddr, port: u16, threshold: u64) {
        self.capture_comparing(ip, port, threshold, shadowtap_common::compare_mode::OFF);
    }

    /// Capture `ip:port` with flow threshold `threshold`, and its responses as the
    /// comparison mode `compare` asks ([`shadowtap_common::compare_mode`]).
    pub fn capture_comparing(&mut self, ip: IpAddr, port: u16, threshold: u64, compare: u8) {
        let value = EndpointValue {
            route_set: 1,
            compare,
            _pad: [0; 3],
            threshold,
        };
        self.maps
            .upsert_endpoint(ip, port, value)
            .expect("upsert endpoint");
    }
}

impl Default for Loaded {
    fn default() -> Self {
        Self::new()
    }
}
