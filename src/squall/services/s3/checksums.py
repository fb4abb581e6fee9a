"""One-shot digests S3 computes itself (composite multipart checksums).

The gateway verifies what clients send (`gateway/streaming.py`); services do
not import the gateway, so this is the few lines S3 needs on its own. CRC32C
comes from the optional `awscrt` package (C speed); without it, composite
CRC32C checksums are not produced."""

from __future__ import annotations

import hashlib
import zlib

try:
    from awscrt import checksums as _crt
except ImportError:  # pragma: no cover - depends on the environment
    _crt = None


def available(algorithm: str) -> bool:
    return algorithm in ("CRC32", "SHA1", "SHA256") or (algorithm == "CRC32C" and _crt is not None)


def digest(algorithm: str, data: bytes) -> bytes:
    if algorithm == "CRC32":
        return (zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big")
    if algorithm == "CRC32C":
        assert _crt is not None
        return int(_crt.crc32c(data)).to_bytes(4, "big")
    return hashlib.new(algorithm.lower(), data).digest()
