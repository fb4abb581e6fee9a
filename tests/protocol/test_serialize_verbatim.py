"""`Verbatim` outputs: sent as they are (blobs base64 in JSON), the same bytes as converted ones."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from squall.protocol.serializers import serialize_response
from squall.protocol.types import Protocol, Route, Verbatim

ITEM: dict[str, Any] = {
    "id": {"S": "user#1"},
    "n": {"N": "36"},
    "blob": {"B": b"\x00\xffbytes"},
    "blobs": {"BS": [b"a", bytearray(b"b")]},
    "flags": {
        "M": {"on": {"BOOL": True}, "none": {"NULL": True}, "deep": {"L": [{"B": b"\x01"}, {"SS": ["x"]}]}}
    },
}


def _body(operation: str, output: dict[str, Any]) -> bytes:
    return serialize_response(Route("dynamodb", operation, Protocol.JSON), output, "rid").body


def test_get_item_verbatim_matches_converted() -> None:
    converted = _body("GetItem", {"Item": ITEM})
    assert _body("GetItem", {"Item": Verbatim(ITEM)}) == converted
    doc = orjson.loads(converted)
    assert doc["Item"]["blob"] == {"B": "AP9ieXRlcw=="}
    assert doc["Item"]["flags"]["M"]["deep"]["L"][0] == {"B": "AQ=="}


def test_query_items_verbatim_match_converted() -> None:
    output = {"Items": [ITEM, {"id": {"S": "2"}}], "Count": 2, "ScannedCount": 2}
    verbatim = dict(output, Items=[Verbatim(i) for i in output["Items"]])
    assert _body("Query", verbatim) == _body("Query", output)


def test_verbatim_inside_a_map_value() -> None:
    output = {"Responses": {"t": [ITEM]}}
    assert _body("BatchGetItem", {"Responses": {"t": [Verbatim(ITEM)]}}) == _body("BatchGetItem", output)


def test_unserializable_values_still_fail() -> None:
    with pytest.raises(TypeError):
        _body("GetItem", {"Item": Verbatim({"x": {"S": object()}})})
