"""SigV4 query canonicalisation: the whole-query shortcut for already canonical query strings
gives exactly the per-component re-encoding, for every escape."""

from __future__ import annotations

from urllib.parse import quote_from_bytes, unquote_to_bytes

import pytest

from squall.gateway.auth.canonical import query_pairs


def _slow(raw: str) -> list[tuple[str, str]]:
    def enc(s: str) -> str:
        return quote_from_bytes(unquote_to_bytes(s), safe="-_.~")

    return [(enc(p.partition("=")[0]), enc(p.partition("=")[2])) for p in raw.split("&") if p]


@pytest.mark.parametrize("byte", range(256))
def test_every_escape(byte: int) -> None:
    for raw in (f"a=%{byte:02X}", f"%{byte:02x}=b", f"x=%{byte:02X}%{byte:02X}&y&z=1=2"):
        assert query_pairs(raw) == _slow(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20260101%2Fus-east-1%2Fs3%2Faws4_request",
        "a=b=c&d",
        "k=%C3%A9&%E2%82%AC=v",
        "k=a+b&x=%zz&y=%2",
        "sp ace=é&t=~",
        "&&a&=&",
    ],
)
def test_mixed(raw: str) -> None:
    assert query_pairs(raw) == _slow(raw)


def test_long_non_canonical_query_is_linear() -> None:
    raw = "a" * 20000 + "!" + "%2F" * 20000 + "%"  # a backtracking pattern would never finish
    assert query_pairs(raw) == _slow(raw)
