"""The payload checksum algorithms of the S3 wire format, in one place.

S3 clients send CRC32, CRC32C, CRC64NVME, SHA-1 or SHA-256 (botocore also knows
SHA-512 and MD5) as `x-amz-checksum-<algorithm>` headers or aws-chunked
trailers, base64 of the big-endian digest. The gateway verifies what clients
send (`gateway/auth/checksums.py`, `gateway/streaming.py`); S3 computes its own
(composite multipart checksums, `services/s3/multipart.py`). Both use this
module; it knows the algorithms and the header names, not what a mismatch
means to a caller (that is the gateway's `AuthError`).

CRC32 comes from zlib. CRC32C and CRC64NVME are not in the standard library:
with the optional `awscrt` package installed (C, GB/s) they come from it;
otherwise they are computed here (~15 MB/s): reflected table-driven CRCs that
consume 32-bit words with two 64Ki-entry tables, about 4x fewer interpreter
steps than a byte-wise loop. Tables are built on first use.

- `ALGORITHMS`: name (as S3 spells it, e.g. in ChecksumAlgorithm) -> (one-shot digest, size).
- `Hasher`: any of them computed incrementally, for streamed bodies.
- `digest`, `checksum_b64`: one-shot digests; `decode_b64`: a sent value, if well formed.
- `header_algorithm`: the algorithm an `x-amz-checksum-*` header names.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import sys
import zlib
from collections.abc import Callable
from functools import cached_property

try:
    from awscrt import checksums as _crt
except ImportError:  # pragma: no cover - depends on the environment
    _crt = None


class ReflectedCrc:
    """A reflected CRC of `width` bits (init and final xor all ones), e.g.
    CRC-32C (poly 0x82F63B78) and CRC-64/NVME (poly 0x9A6C9329AC4BC9B5)."""

    def __init__(self, width: int, reflected_poly: int) -> None:
        self.width = width
        self.poly = reflected_poly
        self.mask = (1 << width) - 1

    @cached_property
    def _byte_table(self) -> list[int]:
        table = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ self.poly if c & 1 else c >> 1
            table.append(c)
        return table

    @cached_property
    def _word_tables(self) -> tuple[list[int], list[int]]:
        # Feeding a 32-bit little-endian word w into state c gives
        # F(low32(c) ^ w) ^ (c >> 32), with F linear: F(x) = lo[x & 0xFFFF] ^ hi[x >> 16].
        t = self._byte_table

        def four_zero_bytes(c: int) -> int:
            for _ in range(4):
                c = t[c & 0xFF] ^ (c >> 8)
            return c

        lo = [four_zero_bytes(i) for i in range(65536)]
        hi = [four_zero_bytes(i << 16) for i in range(65536)]
        return lo, hi

    def update(self, data: bytes | memoryview, crc: int = 0) -> int:
        """The CRC of everything fed so far, given the CRC `crc` of what came before."""
        c = crc ^ self.mask
        view = memoryview(data).cast("B")
        n = len(view) & ~3 if sys.byteorder == "little" else 0
        if n:
            lo, hi = self._word_tables
            for w in view[:n].cast("I"):
                x = c ^ w
                c = lo[x & 0xFFFF] ^ hi[(x >> 16) & 0xFFFF] ^ (c >> 32)
        t = self._byte_table
        for b in view[n:]:
            c = t[(c ^ b) & 0xFF] ^ (c >> 8)
        return c ^ self.mask

    def digest(self, data: bytes | memoryview) -> bytes:
        return self.update(data).to_bytes(self.width // 8, "big")


CRC32C = ReflectedCrc(32, 0x82F63B78)
CRC64NVME = ReflectedCrc(64, 0x9A6C9329AC4BC9B5)

_CrcUpdate = Callable[[bytes | memoryview, int], int]
#: Incremental CRC functions (data, previous crc) -> crc, and their width in bytes.
_CRCS: dict[str, tuple[_CrcUpdate, int]] = {
    "CRC32": (lambda data, crc: zlib.crc32(data, crc), 4),
    "CRC32C": (_crt.crc32c if _crt is not None else CRC32C.update, 4),
    "CRC64NVME": (_crt.crc64nvme if _crt is not None else CRC64NVME.update, 8),
}
_HASHLIB = {"SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512", "MD5": "md5"}


class Hasher:
    """One checksum algorithm (a key of ALGORITHMS) computed over data fed in pieces."""

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        crc = _CRCS.get(algorithm)
        self._crc: _CrcUpdate | None = None
        if crc is not None:
            self._crc, self._size = crc
            self._value = 0
        else:
            self._hash = hashlib.new(_HASHLIB[algorithm])

    def update(self, data: bytes | memoryview) -> None:
        if self._crc is not None:
            self._value = self._crc(data, self._value)
        else:
            self._hash.update(data)

    def digest(self) -> bytes:
        if self._crc is not None:
            return (self._value & ((1 << (8 * self._size)) - 1)).to_bytes(self._size, "big")
        return self._hash.digest()

    def b64(self) -> str:
        return base64.b64encode(self.digest()).decode("ascii")


def _one_shot(algorithm: str) -> Callable[[bytes], bytes]:
    def digest(data: bytes) -> bytes:
        h = Hasher(algorithm)
        h.update(data)
        return h.digest()

    return digest


def _crc32(data: bytes) -> bytes:
    return (zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big")


def _hashlib(name: str) -> Callable[[bytes], bytes]:
    return lambda data: hashlib.new(name, data).digest()


#: Algorithm name (as S3 spells it, e.g. in ChecksumAlgorithm) -> (digest function, digest size).
ALGORITHMS: dict[str, tuple[Callable[[bytes], bytes], int]] = {
    "CRC32": (_crc32, 4),
    "CRC32C": (_one_shot("CRC32C"), 4),
    "CRC64NVME": (_one_shot("CRC64NVME"), 8),
    "SHA1": (_hashlib("sha1"), 20),
    "SHA256": (_hashlib("sha256"), 32),
    "SHA512": (_hashlib("sha512"), 64),
    "MD5": (_hashlib("md5"), 16),
}

#: Checksum headers botocore knows but Squall cannot compute (no stdlib xxhash).
UNSUPPORTED = frozenset({"XXHASH64", "XXHASH3", "XXHASH128"})

CHECKSUM_PREFIX = "x-amz-checksum-"
#: Headers with the prefix that carry no checksum value.
_NOT_CHECKSUMS = frozenset({"x-amz-checksum-type", "x-amz-checksum-algorithm", "x-amz-checksum-mode"})


def digest(algorithm: str, data: bytes) -> bytes:
    """The digest of `data` under `algorithm` (a key of ALGORITHMS)."""
    return ALGORITHMS[algorithm][0](data)


def checksum_b64(algorithm: str, payload: bytes) -> str:
    """The base64 digest of `payload` under `algorithm` (a key of ALGORITHMS)."""
    return base64.b64encode(ALGORITHMS[algorithm][0](payload)).decode("ascii")


def decode_b64(value: str, size: int) -> bytes | None:
    """A sent base64 digest of `size` bytes; None when malformed or of another size."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == size else None


def header_algorithm(name: str) -> str | None:
    """The upper-case algorithm an `x-amz-checksum-<alg>` header (lower-case name) carries
    a value of, supported or not (see ALGORITHMS, UNSUPPORTED); None for any other header."""
    if not name.startswith(CHECKSUM_PREFIX) or name in _NOT_CHECKSUMS:
        return None
    return name[len(CHECKSUM_PREFIX) :].upper()
