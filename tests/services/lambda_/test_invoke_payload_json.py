"""Invoke's payload check: orjson first for speed, the standard library deciding what is refused."""

from __future__ import annotations

import pytest

from squall.protocol.errors import ServiceError
from squall.services.lambda_.invoke import _check_json


@pytest.mark.parametrize(
    "payload",
    [b'{"a": [1, 2.5, null, "x"]}', b"NaN", b'["\\ud800"]', b"\xef\xbb\xbf{}", "[1]".encode("utf-16")],
)
def test_what_the_standard_library_reads_is_accepted(payload: bytes) -> None:
    _check_json(payload)


def test_refusal_carries_the_standard_librarys_reason() -> None:
    with pytest.raises(ServiceError) as err:
        _check_json(b'{"a": ')
    assert err.value.code == "InvalidRequestContentException"
    assert (
        err.value.message
        == "Could not parse request body into json: Expecting value: line 1 column 7 (char 6)"
    )
