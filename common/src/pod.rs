//! `aya::Pod` for the shared types, so user space can put them in maps.
#![allow(unsafe_code)]

use crate::{EndpointKey, EndpointValue, OwnFlowKey, RecordHeader};

// SAFETY: each type is `#[repr(C)]`, `Copy`, made only of integers and byte arrays with
// explicit padding fields (asserted sizes), so every bit pattern is valid and no byte is
// uninitialised.
unsafe impl aya::Pod for EndpointKey {}
// SAFETY: as above.
unsafe impl aya::Pod for EndpointValue {}
// SAFETY: as above.
unsafe impl aya::Pod for OwnFlowKey {}
// SAFETY: as above.
unsafe impl aya::Pod for RecordHeader {}
