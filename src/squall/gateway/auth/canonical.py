"""SigV4 canonicalisation and signing primitives, exactly as AWS computes them.

Paths: S3 signs the path as sent; every other service signs the normalised
path (dot segments and empty segments removed) URI-encoded once more
("double encoding"). Query: each name and value is percent-decoded then
re-encoded over the RFC 3986 unreserved set, pairs sorted by encoded name then
value, blank values kept. Headers: lower-case names, values trimmed with inner
whitespace runs collapsed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_from_bytes, unquote_to_bytes

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_PLAIN = re.compile(r"[A-Za-z0-9\-_.~]*\Z")  # already canonical: nothing to decode or encode
#: A query string whose every component is already canonical: unreserved characters and
#: upper-case escapes of bytes that are not unreserved (what SDKs send, e.g. a presigned URL).
#: Possessive quantifiers: linear time on any input.
_CANONICAL_QUERY = re.compile(
    r"(?:[A-Za-z0-9\-_.~=&]++|%(?!3[0-9]|4[1-9A-F]|5[0-9AF]|6[1-9A-F]|7[0-9AE]|2[DE])[0-9A-F]{2})*+\Z"
)

#: Signing names whose requests are signed over the path as sent.
UNNORMALISED_PATH_SERVICES = frozenset({"s3", "s3-object-lambda", "s3express", "s3-outposts"})


def remove_dot_segments(path: str) -> str:
    """RFC 3986 dot-segment removal, also dropping empty segments (as AWS does)."""
    if not path:
        return "/"
    out: list[str] = []
    for seg in path.split("/"):
        if not seg or seg == ".":
            continue
        if seg == "..":
            if out:
                out.pop()
        else:
            out.append(seg)
    lead = "/" if path[0] == "/" else ""
    trail = "/" if path[-1] == "/" and out else ""
    return lead + "/".join(out) + trail


@lru_cache(maxsize=4096)
def canonical_path(raw_path: str, service: str) -> str:
    if service in UNNORMALISED_PATH_SERVICES:
        return raw_path or "/"
    return quote(remove_dot_segments(raw_path), safe="/~")


def _encode(component: str) -> str:
    if _PLAIN.match(component):
        return component
    if len(component) <= _CACHED_MAX:
        return _reencode(component)
    return quote_from_bytes(unquote_to_bytes(component), safe="-_.~")


#: Components up to this length are re-encoded through a cache: the ones that need it
#: (an `X-Amz-Credential` scope, `response-content-type=text%2Fplain`) recur per signer.
_CACHED_MAX = 256


@lru_cache(maxsize=1024)
def _reencode(component: str) -> str:
    return quote_from_bytes(unquote_to_bytes(component), safe="-_.~")


def query_pairs(raw_query: str) -> list[tuple[str, str]]:
    """The query string's (name, value) pairs, each canonically encoded, in order."""
    pairs: list[tuple[str, str]] = []
    if not raw_query:
        return pairs
    canonical = _CANONICAL_QUERY.match(raw_query) is not None
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if canonical and "=" not in value:
            pairs.append((name, value))
        else:
            pairs.append((_encode(name), _encode(value)))
    return pairs


def canonical_query(pairs: Sequence[tuple[str, str]], exclude: str | None = None) -> str:
    """Sorted `name=value` pairs joined by "&", leaving out parameter `exclude`."""
    kept = sorted(p for p in pairs if p[0] != exclude) if exclude else sorted(pairs)
    return "&".join(f"{k}={v}" for k, v in kept)


def canonical_headers(headers: Mapping[str, str], signed: Sequence[str]) -> str:
    """`name:value\\n` for each signed header (names already lower-case and sorted);
    a signed header missing from the request contributes an empty value."""
    return "".join([f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed])


def canonical_request(
    method: str, path: str, query: str, headers: Mapping[str, str], signed: Sequence[str], payload_hash: str
) -> str:
    return "\n".join(
        (method, path, query, canonical_headers(headers, signed), ";".join(signed), payload_hash)
    )


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


@lru_cache(maxsize=4096)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The derived key for (secret, yyyymmdd, region, service); cached per process."""
    k = hmac.digest(f"AWS4{secret}".encode(), date.encode(), "sha256")
    k = hmac.digest(k, region.encode(), "sha256")
    k = hmac.digest(k, service.encode(), "sha256")
    return hmac.digest(k, b"aws4_request", "sha256")


def sign(key: bytes, message: str) -> str:
    """HMAC-SHA256(key, message) in hex, from the key's padded inner and outer
    hash states computed once per key (RFC 2104): two hash copies per message
    instead of a keyed HMAC set up from scratch."""
    inner, outer = _hmac_states(key)
    h = inner.copy()
    h.update(message.encode("utf-8", "surrogateescape"))
    o = outer.copy()
    o.update(h.digest())
    digest: str = o.hexdigest()
    return digest


@lru_cache(maxsize=4096)
def _hmac_states(key: bytes) -> tuple[Any, Any]:
    block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    return (
        hashlib.sha256(bytes(b ^ 0x36 for b in block)),
        hashlib.sha256(bytes(b ^ 0x5C for b in block)),
    )


def chunk_string_to_sign(amz_date: str, scope: str, previous: str, chunk_sha256: str) -> str:
    return f"{ALGORITHM}-PAYLOAD\n{amz_date}\n{scope}\n{previous}\n{EMPTY_SHA256}\n{chunk_sha256}"


def trailer_string_to_sign(amz_date: str, scope: str, previous: str, trailer_sha256: str) -> str:
    return f"{ALGORITHM}-TRAILER\n{amz_date}\n{scope}\n{previous}\n{trailer_sha256}"
