"""The incremental body decoder (gateway/streaming.py) against the whole-body one:
the same bodies, cut into arbitrary pieces, give the same payload and the same errors."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall.gateway.auth import AuthError, AuthErrorKind, decode_body, verify
from squall.gateway.streaming import RequestBody
from squall.protocol.checksums import checksum_b64
from squall.protocol.types import HttpRequest
from tests.gateway.test_chunked import DOC_NOW, MODES, STORE, _doc_request, _encode, _replace, _seed_request


def _pieces(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(body) + 1) for c in cuts} | {0, len(body)})
    return [body[a:b] for a, b in itertools.pairwise(points)]


def _stream(req: HttpRequest, cuts: list[int], now: Any = None) -> tuple[bytes, RequestBody]:
    ctx = verify(_replace(req, body=b""), STORE, deferred_body=True, now=now, allow_anonymous=True,
                 max_skew=timedelta(days=365 * 30))  # fmt: skip
    messages = [{"type": "http.request", "body": p, "more_body": True} for p in _pieces(req.body, cuts)]
    messages.append({"type": "http.request", "body": b"", "more_body": False})

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    body = RequestBody(req, ctx, receive, idle_timeout=5)

    async def run() -> bytes:
        return b"".join([bytes(p) async for p in body])

    return asyncio.run(run()), body


@pytest.mark.parametrize("trailer", [False, True])
@pytest.mark.parametrize("cuts", [[], [1], [5, 90, 65600], list(range(0, 70000, 7))])
def test_documented_example_in_pieces(trailer: bool, cuts: list[int]) -> None:
    req = _doc_request(trailer)
    payload, body = _stream(req, cuts, now=DOC_NOW)
    assert payload == b"a" * 66560
    assert body.checksums == ({"CRC32C": "sOO8/Q=="} if trailer else {})
    tampered = bytearray(req.body)
    tampered[70000 if len(tampered) > 70000 else 100] ^= 1
    with pytest.raises(AuthError) as info:
        _stream(_replace(req, body=bytes(tampered)), cuts, now=DOC_NOW)
    assert info.value.kind in (AuthErrorKind.BAD_CHUNK_SIGNATURE, AuthErrorKind.BAD_ENCODING)


@settings(max_examples=40, deadline=None)
@given(
    mode=st.sampled_from(MODES),
    chunks=st.lists(st.binary(min_size=1, max_size=300), max_size=5),
    algorithm=st.sampled_from(["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"]),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=12),
    wrong=st.booleans(),
)
def test_same_as_whole_body_decoder(mode: str, chunks: list[bytes], algorithm: str, cuts: list[int],
                                    wrong: bool) -> None:  # fmt: skip
    data = b"".join(chunks)
    has_trailer = mode.endswith("TRAILER")
    name = f"x-amz-checksum-{algorithm.lower()}"
    value = checksum_b64(algorithm, data + (b"!" if wrong else b""))
    trailers = {name: value} if has_trailer else {}
    req, key, amz_date, seed = _seed_request(mode, len(data), name if has_trailer else None)
    req = _replace(req, body=_encode(chunks, mode, trailers, key, amz_date, seed))
    try:
        expected: Any = decode_body(req, verify(req, STORE)).payload
    except AuthError as err:
        expected = err.kind
    try:
        got: Any = _stream(req, cuts)[0]
    except AuthError as err:
        got = err.kind
    assert got == expected


def test_plain_body_header_checksums_and_length() -> None:
    data = b"plain body" * 1000
    sha = hashlib.sha256(data).hexdigest()
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    headers = {"x-amz-content-sha256": sha, "content-md5": md5, "content-length": str(len(data)),
               "x-amz-checksum-crc32": checksum_b64("CRC32", data)}  # fmt: skip
    req = HttpRequest("PUT", "/b/k", "", headers, data)
    payload, body = _stream(req, [3, 5000])
    assert payload == data and body.checksums == {"CRC32": checksum_b64("CRC32", data), "Content-MD5": md5}
    for bad_headers, kind in [
        ({**headers, "x-amz-content-sha256": "0" * 64}, AuthErrorKind.BAD_PAYLOAD_HASH),
        ({**headers, "content-length": str(len(data) + 1)}, AuthErrorKind.LENGTH_MISMATCH),
        ({**headers, "x-amz-checksum-crc32": checksum_b64("CRC32", b"x")}, AuthErrorKind.BAD_CHECKSUM),
    ]:
        with pytest.raises(AuthError) as info:
            _stream(HttpRequest("PUT", "/b/k", "", bad_headers, data), [100])
        assert info.value.kind is kind
