"""A gRPC client (grpcio, no codegen) for shadowtap's end-to-end tests and benchmarks.

Runs --calls calls of one --mode over --channels channels (each its own TCP connection),
call i on channel i % channels, with up to --inflight calls at once per channel. Each call
carries the metadata `x-call-id: <prefix>-<i>` and messages of --size bytes (--messages per
call for client-streaming and bidi). Prints one JSON object:

  {"ok": N, "failed": N, "errors": [first errors], "seconds": S,
   "calls": [{"call": id, "method": m, "messages": n, "bytes": b, "sha256": digest of the
              request messages, "responses": response messages received}]}
"""

import argparse
import json
import sys
import threading
import time

import grpc

from messages import BIDI, CLIENT_STREAM, SERVER_STREAM, SERVICE, UNARY, Digest, message

MAX_MESSAGE = 64 << 20
MODES = {"unary": UNARY, "client-stream": CLIENT_STREAM, "server-stream": SERVER_STREAM, "bidi": BIDI}


def channel(target: str, index: int) -> grpc.Channel:
    return grpc.insecure_channel(
        target,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.enable_http_proxy", 0),
            # Each channel its own connection: channels with equal arguments would
            # otherwise share subchannels (and TCP connections) through the global pool.
            ("grpc.use_local_subchannel_pool", 1),
            ("shadowtap.channel", index),
        ],
    )


class Call:
    def __init__(self, method: str, call_id: str, size: int, count: int) -> None:
        self.method = method
        self.call_id = call_id
        self.msgs = [message(call_id, i, size) for i in range(count)]
        self.digest = Digest()
        for m in self.msgs:
            self.digest.add(m)
        self.responses = 0

    def record(self) -> dict:
        return {
            "call": self.call_id,
            "method": self.method,
            "messages": self.digest.messages,
            "bytes": self.digest.bytes,
            "sha256": self.digest.hexdigest(),
            "responses": self.responses,
        }


def run_call(ch: grpc.Channel, call: Call, timeout: float) -> None:
    path = f"/{SERVICE}/{call.method}"
    meta = (("x-call-id", call.call_id),)
    if call.method == UNARY:
        ch.unary_unary(path)(call.msgs[0], metadata=meta, timeout=timeout)
        call.responses = 1
    elif call.method == CLIENT_STREAM:
        ch.stream_unary(path)(iter(call.msgs), metadata=meta, timeout=timeout)
        call.responses = 1
    elif call.method == SERVER_STREAM:
        for _ in ch.unary_stream(path)(call.msgs[0], metadata=meta, timeout=timeout):
            call.responses += 1
    else:
        for _ in ch.stream_stream(path)(iter(call.msgs), metadata=meta, timeout=timeout):
            call.responses += 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--target", required=True, help="ip:port ([v6]:port)")
    p.add_argument("--mode", choices=sorted(MODES), default="unary")
    p.add_argument("--calls", type=int, default=1)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--inflight", type=int, default=1, help="concurrent calls per channel")
    p.add_argument("--size", type=int, default=200, help="bytes per request message")
    p.add_argument("--messages", type=int, default=1, help="request messages per streaming call")
    p.add_argument("--prefix", default="call")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per call")
    p.add_argument("--no-calls", action="store_true", help="omit the per-call list")
    a = p.parse_args()
    method = MODES[a.mode]
    count = a.messages if method in (CLIENT_STREAM, BIDI) else 1
    channels = [channel(a.target, i) for i in range(a.channels)]
    for ch in channels:
        grpc.channel_ready_future(ch).result(timeout=a.timeout)
    calls = [Call(method, f"{a.prefix}-{i}", a.size, count) for i in range(a.calls)]
    lock = threading.Lock()
    ok, errors = [0], []

    def worker(ci: int, slot: int) -> None:
        mine = calls[ci::a.channels][slot::a.inflight]
        for c in mine:
            try:
                run_call(channels[ci], c, a.timeout)
                with lock:
                    ok[0] += 1
            except grpc.RpcError as e:
                with lock:
                    errors.append(f"{c.call_id}: {e.code()} {e.details()}")

    start = time.monotonic()
    threads = [
        threading.Thread(target=worker, args=(ci, slot))
        for ci in range(a.channels)
        for slot in range(a.inflight)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - start
    for ch in channels:
        ch.close()
    out = {"ok": ok[0], "failed": len(errors), "errors": errors[:10], "seconds": seconds}
    if not a.no_calls:
        out["calls"] = [c.record() for c in calls]
    print(json.dumps(out))
    return 0 if not errors else 2


if __name__ == "__main__":
    sys.exit(main())
