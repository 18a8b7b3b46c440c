#!/bin/sh
# Regenerates the committed capture of a real gRPC exchange that shadowtap's pcap tests read:
# agent/reconstruct/tests/fixtures/grpc_h2c.pcap (tcpdump on the loopback of a private
# network namespace) and grpc_h2c.calls.jsonl (client.py's own report of each call: id,
# method, SHA-256 of its request messages). Run as root, after `cargo xtask setup`:
#
#   sh tests/harness/grpc/capture_fixture.sh
#
# The exchange: 3 unary calls of 200 B and 1 client-streaming call of 3 × 1 000 B over one
# h2c channel to server.py, 1 server-streaming call on a second channel, and one HTTP/1.1
# GET (curl) to python's http.server, so that one file holds both protocols.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$(cd "$here/../../../agent/reconstruct/tests/fixtures" && pwd)
py=${XDG_CACHE_HOME:-$HOME/.cache}/shadowtap/grpcio-venv/bin/python
ns=st-grpcfix-$$
work=$(mktemp -d)
ip netns add "$ns"
cleanup() {
    kill "$srv" "$http" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" "$py" "$here/server.py" --addr 127.0.0.1:50051 --log "$work/server.log" &
srv=$!
ip netns exec "$ns" python3 -m http.server --bind 127.0.0.1 8080 --directory "$work" \
    >/dev/null 2>&1 &
http=$!
# Wait (bounded) for `cond` to succeed.
until_ok() {
    n=0
    until "$@" >/dev/null 2>&1; do
        n=$((n + 1))
        [ "$n" -lt 200 ] || { echo "timed out: $*" >&2; exit 1; }
        sleep 0.05
    done
}
until_ok ip netns exec "$ns" "$py" -c \
    'import socket; socket.create_connection(("127.0.0.1", 50051), 0.2)'
until_ok ip netns exec "$ns" curl -s -o /dev/null http://127.0.0.1:8080/
ip netns exec "$ns" tcpdump -i lo -U -s 0 -w "$work/capture.pcap" \
    'tcp port 50051 or tcp port 8080' 2>/dev/null &
td=$!
# tcpdump prints nothing when it is ready: wait for its socket to exist.
until_ok ip netns exec "$ns" grep -q " 0003 " /proc/net/packet
client() {
    ip netns exec "$ns" "$py" "$here/client.py" --target 127.0.0.1:50051 "$@"
}
{
    client --mode unary --calls 3 --size 200 --prefix unary
    client --mode client-stream --calls 1 --messages 3 --size 1000 --prefix cs
    client --mode server-stream --calls 1 --size 50 --prefix ss
} | "$py" -c '
import json, sys
for line in sys.stdin:
    for c in json.loads(line)["calls"]:
        print(json.dumps(c, sort_keys=True))
' > "$out/grpc_h2c.calls.jsonl"
ip netns exec "$ns" curl -s -o /dev/null http://127.0.0.1:8080/plain
# Let tcpdump read the last FINs before it is stopped (a fixture script, not a test).
sleep 1
kill -INT "$td"
wait "$td" || true
cp "$work/capture.pcap" "$out/grpc_h2c.pcap"
ls -l "$out/grpc_h2c.pcap" "$out/grpc_h2c.calls.jsonl"
