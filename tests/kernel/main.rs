//! Kernel tests: shadowtap's eBPF programs, and captures, against the real kernel. They need
//! CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN (root): without them each test says why it is
//! skipped, and in CI (`CI` set) fails instead. Live tests build their own namespaces and
//! veth pairs (unique names, removed on drop), so they run beside other tests.
//!
//! - `test_run`: crafted packets through `BPF_PROG_TEST_RUN` — verdicts, untouched packets,
//!   exactly the expected bytes copied and counted; no network needed.
//! - `live_capture`: real traffic over veth pairs, host-side and pod-side attach points; the
//!   bytes the kernel copies, reassembled, equal the bytes the server received.
//! - `clsact`: the attach path of kernels without TCX, forced on any kernel: capture through
//!   clsact filters, detach keeping others' qdiscs and filters, and the start-up sweep that
//!   removes a killed agent's filters and nobody else's.
//! - `endpoint_filter`: the pre-filter before the endpoint lookup never hides a captured
//!   packet — destinations sharing a captured endpoint's bit are looked up and missed, an
//!   endpoint keeps its bit while another on the same bit is removed, and everything else is
//!   counted `not_matched`, on TC and XDP.
//! - `miss_counting`: every kind of miss (stopped by the pre-filter, looked up and missed,
//!   not read by the pre-filter, non-TCP, the response program's) moves exactly one outcome
//!   counter by exactly the packets run, and the derived `packets_seen` equals the packets
//!   run (the kernel does not count it).
//! - `response_capture`: the response program of comparing endpoints — only their
//!   pod→client packets, flagged as responses, a prefix in the status and headers modes,
//!   everything in the body mode; live on the host-side and pod-side hooks.
//! - `pcap_capture`: real traffic captured by tcpdump over a veth pair and decoded from the
//!   file by `shadowtap-reconstruct` (the `shadowtap replay --pcap` path).

mod clsact;
mod endpoint_filter;
mod live_capture;
mod miss_counting;
mod pcap_capture;
mod response_capture;
mod test_run;
