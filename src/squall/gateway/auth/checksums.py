"""Verifying the payload checksums a client sent: `x-amz-checksum-*` headers or
aws-chunked trailers, and `Content-MD5`.

The algorithms themselves (CRC32, CRC32C, CRC64NVME, SHA-1, SHA-256, ...) are
wire format shared with S3: `protocol/checksums.py`. This module decides what a
sent value that is malformed, unsupported or wrong means: an `AuthError`
(INVALID_CHECKSUM or BAD_CHECKSUM), which `mapping.py` turns into S3's error.
Whole bodies are checked by `verify_checksums`; streamed ones by
`gateway/streaming.py` with `checksum_algorithm`, `check_checksum` and
`check_content_md5` on the digests it computed as the bytes arrived.
"""

from __future__ import annotations

from collections.abc import Mapping

from squall.gateway.auth.errors import AuthError, AuthErrorKind
from squall.protocol.checksums import (
    ALGORITHMS,
    CHECKSUM_PREFIX,
    UNSUPPORTED,
    checksum_b64,
    decode_b64,
    header_algorithm,
)


def checksum_algorithm(header: str) -> str | None:
    """ALGORITHM for an `x-amz-checksum-<alg>` header Squall computes; None for other headers.
    Raises AuthError INVALID_CHECKSUM for an algorithm it cannot compute."""
    name = header.lower()
    algorithm = header_algorithm(name)
    if algorithm is None or algorithm in ALGORITHMS:
        return algorithm
    if algorithm in UNSUPPORTED:
        raise AuthError(
            AuthErrorKind.INVALID_CHECKSUM, f"Checksum algorithm {algorithm} is not supported", header=name
        )
    return None


def check_checksum(header: str, value: str, calculated: str) -> None:
    """Compare a sent `x-amz-checksum-<alg>` value with the base64 digest calculated
    (raises like `verify_checksum`)."""
    name = header.lower()
    algorithm = name[len(CHECKSUM_PREFIX) :].upper()
    if decode_b64(value, ALGORITHMS[algorithm][1]) is None:
        raise AuthError(AuthErrorKind.INVALID_CHECKSUM, f"Value for {name} header is invalid.", header=name)
    if calculated != value.strip():
        raise AuthError(
            AuthErrorKind.BAD_CHECKSUM,
            f"{algorithm} mismatch",
            algorithm=algorithm,
            expected=value.strip(),
            calculated=calculated,
        )


def check_content_md5(value: str, calculated: str) -> None:
    """Compare a Content-MD5 header with the base64 MD5 calculated (raises like `verify_checksums`)."""
    if decode_b64(value, 16) is None:
        raise AuthError(
            AuthErrorKind.INVALID_CHECKSUM,
            "The Content-MD5 you specified was invalid.",
            header="content-md5",
            content_md5="1",
        )
    if calculated != value.strip():
        raise AuthError(
            AuthErrorKind.BAD_CHECKSUM,
            "Content-MD5 mismatch",
            algorithm="MD5",
            expected=value.strip(),
            calculated=calculated,
            content_md5="1",
        )


def verify_checksum(header: str, value: str, payload: bytes) -> tuple[str, str] | None:
    """Check one `x-amz-checksum-<alg>` header (or trailer) against `payload`.

    Returns (ALGORITHM, base64 value) when verified, None when `header` is not a
    checksum header. Raises AuthError INVALID_CHECKSUM (value malformed or
    algorithm unsupported; details `header`) or BAD_CHECKSUM (details
    `algorithm`, `expected`, `calculated`)."""
    algorithm = checksum_algorithm(header)
    if algorithm is None:
        return None
    calculated = checksum_b64(algorithm, payload)
    check_checksum(header, value, calculated)
    return algorithm, calculated


def verify_checksums(headers: Mapping[str, str], payload: bytes) -> dict[str, str]:
    """Verify every checksum header of a request (lower-cased names) against its
    decoded payload: `x-amz-checksum-<alg>` and `Content-MD5`.

    Returns {ALGORITHM: base64 digest} for the `x-amz-checksum-*` ones verified
    (what S3 stores and echoes back), plus "Content-MD5" when that was given.
    Raises AuthError INVALID_CHECKSUM or BAD_CHECKSUM; for Content-MD5 the
    details have `header="content-md5"` / `algorithm="MD5"` and
    `content_md5="1"`, since S3 words those errors differently."""
    verified: dict[str, str] = {}
    for name, value in headers.items():
        if name.startswith(CHECKSUM_PREFIX):
            result = verify_checksum(name, value, payload)
            if result is not None:
                verified[result[0]] = result[1]
    md5 = headers.get("content-md5")
    if md5 is not None:
        calculated = checksum_b64("MD5", payload)
        check_content_md5(md5, calculated)
        verified["Content-MD5"] = calculated
    return verified
