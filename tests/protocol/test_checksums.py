"""protocol/checksums.py: the algorithms the gateway verifies and S3 computes."""

from __future__ import annotations

import base64
import hashlib
import zlib

from squall.protocol.checksums import ALGORITHMS, Hasher, checksum_b64, decode_b64, digest, header_algorithm


def test_one_shot_and_incremental_digests_agree() -> None:
    data = b"The quick brown fox jumps over the lazy dog" * 7
    assert digest("CRC32", data) == (zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big")
    assert digest("SHA256", data) == hashlib.sha256(data).digest()
    for algorithm, (_, size) in ALGORITHMS.items():
        h = Hasher(algorithm)
        h.update(data[:10])
        h.update(memoryview(data)[10:])
        assert h.digest() == digest(algorithm, data) and len(h.digest()) == size
        assert h.b64() == checksum_b64(algorithm, data)


def test_header_names_and_sent_values() -> None:
    assert header_algorithm("x-amz-checksum-crc64nvme") == "CRC64NVME"
    assert header_algorithm("x-amz-checksum-xxhash3") == "XXHASH3"  # named, not computable
    assert header_algorithm("x-amz-checksum-type") is None
    assert header_algorithm("content-md5") is None
    value = base64.b64encode(b"\x01\x02\x03\x04").decode()
    assert decode_b64(f" {value} ", 4) == b"\x01\x02\x03\x04"
    assert decode_b64(value, 8) is None and decode_b64("not base64!", 4) is None
