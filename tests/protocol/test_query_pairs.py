"""The REST parser's query splitting decodes exactly as urllib's parse_qsl (blanks kept,
"+" as space, strict UTF-8), taking shortcuts only for parts without escapes."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from squall.protocol.parsers._common import Malformed
from squall.protocol.parsers.rest import query_pairs

CASES = [
    "",
    "&",
    "a",
    "a=",
    "=b",
    "a=b&a=c",
    "uploads&prefix=x%2Fy",
    "k=a+b&%2B=%2b&p%3Dq=1=2",
    "X-Amz-Credential=test%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-SignedHeaders=host",
    "a=%C3%A9&%e2%82%ac=euro&&b",
    "bad%zz=%2",
    "x=" + "%41" * 300,
]


@pytest.mark.parametrize("query", CASES)
def test_same_pairs_as_parse_qsl(query: str) -> None:
    assert query_pairs(query) == parse_qsl(query, keep_blank_values=True, errors="strict")
    assert query_pairs(query) == parse_qsl(query, keep_blank_values=True, errors="strict")  # cached


@pytest.mark.parametrize("query", ["a=%ff", "%c3=1", "k=" + "%e9" * 300])
def test_escapes_that_are_not_utf8_are_malformed(query: str) -> None:
    with pytest.raises(Malformed):
        query_pairs(query)
