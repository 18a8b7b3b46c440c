"""What the shadowtap gRPC peers send and how they fingerprint it (shared by server.py and
client.py). Messages are raw bytes: the generic handlers use no protobuf codegen."""

import hashlib
import random
import struct

# The service every test method belongs to; its full path is /shadowtap.test.Echo/<Method>.
SERVICE = "shadowtap.test.Echo"
UNARY = "Unary"
CLIENT_STREAM = "ClientStream"
SERVER_STREAM = "ServerStream"
BIDI = "Bidi"
METHODS = (UNARY, CLIENT_STREAM, SERVER_STREAM, BIDI)


def message(call_id: str, index: int, size: int) -> bytes:
    """The index-th message of a call: `size` pseudo-random bytes seeded by the call."""
    return random.Random(f"{call_id}/{index}").randbytes(size)


class Digest:
    """SHA-256 over a call's messages, each prefixed with its 4-byte big-endian length, so
    that a lost, added, reordered or cut message changes the digest."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self.messages = 0
        self.bytes = 0

    def add(self, msg: bytes) -> None:
        self._h.update(struct.pack(">I", len(msg)))
        self._h.update(msg)
        self.messages += 1
        self.bytes += len(msg)

    def hexdigest(self) -> str:
        return self._h.hexdigest()
