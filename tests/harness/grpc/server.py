"""A gRPC server (grpcio, generic handlers) for shadowtap's end-to-end tests.

It serves /shadowtap.test.Echo/{Unary,ClientStream,ServerStream,Bidi} and appends one JSON
line per finished call to --log (flushed at once):

  {"method": "Unary", "call": "<x-call-id>", "marked": true|false, "messages": N,
   "bytes": B, "sha256": "<digest of the request messages>", "completed": true}

`marked` says whether the call carried the --marker header; `completed` whether every
response message was handed to the transport (false when the peer cancelled the call).
Server-streaming calls are answered with --responses messages of --response-size bytes,
bidi calls with one such message per request message.

--variant differs makes a server that differs on purpose (a mirror under comparison):
client-streaming calls end with NOT_FOUND instead of OK, server-streaming replies carry
other bytes of the same lengths; unary and bidi calls are answered as usual.
"""

import argparse
import json
import sys
import threading
from concurrent import futures

import grpc

from messages import BIDI, CLIENT_STREAM, SERVER_STREAM, SERVICE, UNARY, Digest, message

MAX_MESSAGE = 64 << 20


class Log:
    def __init__(self, path: str, marker: str) -> None:
        self._file = open(path, "a", encoding="utf-8")
        self._lock = threading.Lock()
        self._marker = marker.lower()

    def call(self, method: str, context, digest: Digest, completed: bool) -> None:
        meta = dict(context.invocation_metadata())
        line = json.dumps(
            {
                "method": method,
                "call": meta.get("x-call-id", ""),
                "marked": self._marker in meta,
                "messages": digest.messages,
                "bytes": digest.bytes,
                "sha256": digest.hexdigest(),
                "completed": completed,
            }
        )
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()


def handlers(log: Log, responses: int, response_size: int, differs: bool):
    def reply(call: str, i: int) -> bytes:
        return message(f"reply/{call}", i, response_size)

    def stream_reply(call: str, i: int) -> bytes:
        return message(f"other/{call}" if differs else f"reply/{call}", i, response_size)

    def unary(request: bytes, context) -> bytes:
        d = Digest()
        d.add(request)
        log.call(UNARY, context, d, True)
        return request[:16]

    def client_stream(requests, context) -> bytes:
        d = Digest()
        for r in requests:
            d.add(r)
        log.call(CLIENT_STREAM, context, d, True)
        if differs:
            context.abort(grpc.StatusCode.NOT_FOUND, "this variant finds nothing")
        return str(d.messages).encode()

    def server_stream(request: bytes, context):
        d = Digest()
        d.add(request)
        call = dict(context.invocation_metadata()).get("x-call-id", "")
        sent = 0
        try:
            for i in range(responses):
                yield stream_reply(call, i)
                sent += 1
        finally:
            log.call(SERVER_STREAM, context, d, sent == responses and context.is_active())

    def bidi(requests, context):
        d = Digest()
        call = dict(context.invocation_metadata()).get("x-call-id", "")
        for r in requests:
            d.add(r)
            yield reply(call, d.messages)
        log.call(BIDI, context, d, True)

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            UNARY: grpc.unary_unary_rpc_method_handler(unary),
            CLIENT_STREAM: grpc.stream_unary_rpc_method_handler(client_stream),
            SERVER_STREAM: grpc.unary_stream_rpc_method_handler(server_stream),
            BIDI: grpc.stream_stream_rpc_method_handler(bidi),
        },
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--addr", required=True, help="ip:port ([v6]:port) to listen on")
    p.add_argument("--log", required=True, help="file to append one JSON line per call to")
    p.add_argument("--marker", default="x-shadowtap-mirrored")
    p.add_argument("--responses", type=int, default=3)
    p.add_argument("--response-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=16)
    p.add_argument("--variant", choices=["same", "differs"], default="same")
    a = p.parse_args()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=a.workers),
        handlers=[
            handlers(Log(a.log, a.marker), a.responses, a.response_size, a.variant == "differs")
        ],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.so_reuseport", 0),
        ],
    )
    if server.add_insecure_port(a.addr) == 0:
        print(f"cannot listen on {a.addr}", file=sys.stderr)
        return 1
    server.start()
    server.wait_for_termination()
    return 0


if __name__ == "__main__":
    sys.exit(main())
