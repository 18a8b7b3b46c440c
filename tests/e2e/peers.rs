//! The real peers the benchmarks rely on, checked on their own: what they report must be
//! what happened, or every figure built on them is wrong.

use std::net::SocketAddr;

use shadowtap_harness::{
    nginx_backend::Backend,
    require_privileges,
    topology::{unique_tag, Netns},
};

/// The nginx backend's request count moves by the requests served, not by the reads of
/// the count itself (nginx counts its status requests among its requests).
#[test]
fn the_nginx_backends_count_is_the_requests_it_served() {
    if !require_privileges("the_nginx_backends_count_is_the_requests_it_served") {
        return;
    }
    let ns = Netns::new("peer", &unique_tag());
    let listen: SocketAddr = "127.0.0.1:18080".parse().expect("address");
    let backend = Backend::start(&ns, listen, 1, &ns);
    let count = || backend.requests(&ns).expect("the status endpoint answers");
    let start = count();
    assert_eq!(count(), start, "reading the count twice serves nothing");
    assert_eq!(count(), start, "nor three times");
    let out = ns.exec(&[
        "curl",
        "-sS",
        "http://127.0.0.1:18080/a",
        "http://127.0.0.1:18080/b",
        "http://127.0.0.1:18080/c",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\nok\nok\n");
    assert_eq!(count(), start + 3, "three requests served");
    assert_eq!(count(), start + 3, "and the count stays there");
}
