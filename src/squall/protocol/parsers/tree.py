"""Shape-compiled decoders for self-describing trees: JSON (json, rest-json)
and CBOR (smithy-rpc-v2-cbor). Both arrive as dicts/lists/scalars; they differ
only in how blobs and timestamps travel (JSON: base64 text and epoch seconds;
CBOR: byte strings and tag-1 epoch values)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from botocore.model import Shape

from squall.protocol.parsers._common import (
    INT_BITS,
    Decoder,
    Malformed,
    Memo,
    b64,
    epoch,
    int_in_range,
    text_timestamp,
)

_SPECIAL_FLOATS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _wrong(expected: str, value: Any) -> Malformed:
    return Malformed(f"Expected {expected} but found {_kind(value)}")


def _string(value: Any) -> Any:
    if type(value) is str:
        return value
    raise _wrong("a string", value)


def _boolean(value: Any) -> Any:
    if type(value) is bool:
        return value
    raise _wrong("a boolean", value)


def _document(value: Any) -> Any:
    return value


def _integer(type_name: str) -> Decoder:
    def decode(value: Any) -> Any:
        if type(value) is int:
            return int_in_range(value, type_name)
        if type(value) is float and value.is_integer():
            return int_in_range(int(value), type_name)
        raise _wrong(f"an {type_name}", value)

    return decode


def _floating(value: Any) -> Any:
    t = type(value)
    if t is float:
        return value
    if t is int:
        return float(value)
    if t is str and value in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[value]
    raise _wrong("a number", value)


def _json_blob(value: Any) -> Any:
    if type(value) is str:
        return b64(value)
    raise _wrong("a base64 string", value)


def _cbor_blob(value: Any) -> Any:
    if type(value) is bytes:
        return value
    if type(value) is bytearray:
        return bytes(value)
    raise _wrong("a byte string", value)


def _timestamp(fmt: str) -> Decoder:
    def decode(value: Any) -> Any:
        t = type(value)
        if t is int or t is float:
            return epoch(value)
        if t is str:
            return text_timestamp(value, fmt)
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                return value.replace(tzinfo=dt.UTC)
            return value.astimezone(dt.UTC)
        raise _wrong("a timestamp", value)

    return decode


class TreeCompiler:
    """Builds (and memoises) decoders for one flavour of tree."""

    def __init__(self, cbor: bool) -> None:
        self._cbor = cbor
        self._memo: Memo[Decoder] = Memo()

    def decoder(self, shape: Shape) -> Decoder:
        return self._memo.get(shape, self._build)

    def structure(self, shape: Shape, members: dict[str, Shape]) -> Decoder:
        """Decoder for a structure restricted to `members` (REST bodies carry
        only the members without an HTTP binding)."""
        table: dict[str, tuple[str, Decoder]] = {}
        for name, member in members.items():
            wire = name if self._cbor else str(member.serialization.get("name", name))
            table[wire] = (name, self.decoder(member))
        struct_name = shape.name

        def decode(value: Any) -> Any:
            if type(value) is not dict:
                raise _wrong(f"an object ({struct_name})", value)
            out: dict[str, Any] = {}
            for key, item in value.items():
                entry = table.get(key)
                if entry is None or item is None:
                    continue
                name, member_decoder = entry
                try:
                    out[name] = member_decoder(item)
                except Malformed as exc:
                    exc.path.append(name)
                    raise
            return out

        return decode

    def _build(self, shape: Shape) -> Decoder:
        t = shape.type_name
        if t == "structure":
            if shape.metadata.get("document"):
                return _document
            return self.structure(shape, dict(shape.members))
        if t == "list":
            return self._list(shape)
        if t == "map":
            return self._map(shape)
        if t == "string":
            return _string
        if t == "boolean":
            return _boolean
        if t in INT_BITS:
            return _integer(t)
        if t in ("float", "double"):
            return _floating
        if t == "blob":
            return _cbor_blob if self._cbor else _json_blob
        if t == "timestamp":
            return _timestamp(str(shape.serialization.get("timestampFormat", "unixTimestamp")))
        raise TypeError(f"no decoder for shape type {t!r} ({shape.name})")

    def _list(self, shape: Shape) -> Decoder:
        item_decoder = self.decoder(shape.member)
        strings = shape.member.type_name == "string"

        def decode(value: Any) -> Any:
            if type(value) is not list:
                raise _wrong("an array", value)
            if strings and all(type(x) is str for x in value):
                return value
            out = []
            for i, item in enumerate(value):
                try:
                    out.append(item_decoder(item))
                except Malformed as exc:
                    exc.path.append(str(i + 1))
                    raise
            return out

        return decode

    def _map(self, shape: Shape) -> Decoder:
        key_decoder = self.decoder(shape.key)
        value_decoder = self.decoder(shape.value)
        sparse = bool(shape.metadata.get("sparse"))

        def decode(value: Any) -> Any:
            if type(value) is not dict:
                raise _wrong("an object (map)", value)
            out: dict[Any, Any] = {}
            for key, item in value.items():
                try:
                    if item is None:
                        if sparse:
                            out[key_decoder(key)] = None
                        continue
                    out[key_decoder(key)] = value_decoder(item)
                except Malformed as exc:
                    exc.path.append(str(key))
                    raise
            return out

        return decode
