"""Compiled converters from output values to a protocol's native tree (JSON values, CBOR items).

A shape compiles to a converter (value -> wire value) or to ``None`` when the
value can go to the encoder unchanged: no blobs, timestamps, floats or renamed
members anywhere below it. Most JSON outputs are all strings, numbers and
booleans, so the common case costs nothing beyond orjson itself. A `Verbatim`
value is not converted either (the encoder handles its blobs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from botocore.model import Shape

from squall.protocol.types import Verbatim

Conv = Callable[[Any], Any]
ScalarRule = Callable[[Shape], Conv | None]


def is_event_stream(shape: Shape) -> bool:
    return bool(shape.serialization.get("eventstream"))


class _Struct:
    __slots__ = ("members",)

    def __init__(self) -> None:
        self.members: dict[str, tuple[str, Conv | None]] = {}

    def __call__(self, value: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        members = self.members
        for key, item in value.items():
            if item is None:
                continue
            plan = members.get(key)
            if plan is None:
                continue
            wire, conv = plan
            out[wire] = item if conv is None or type(item) is Verbatim else conv(item)
        return out


class _List:
    __slots__ = ("conv",)

    def __init__(self, conv: Conv | None = None) -> None:
        self.conv = conv

    def __call__(self, value: list[Any]) -> list[Any]:
        conv = self.conv
        if conv is None:
            return list(value)
        return [x if x is None or type(x) is Verbatim else conv(x) for x in value]


class _Map:
    __slots__ = ("conv",)

    def __init__(self, conv: Conv | None = None) -> None:
        self.conv = conv

    def __call__(self, value: dict[str, Any]) -> dict[str, Any]:
        conv = self.conv
        if conv is None:
            return dict(value)
        return {k: (v if v is None or type(v) is Verbatim else conv(v)) for k, v in value.items()}


class TreeCompiler:
    """Compiles the shapes of one service model for one tree protocol.

    `scalar` says how a scalar shape converts (``None``: unchanged); `rename`
    says whether members travel under their `locationName` (JSON) or their
    member name (CBOR). Containers are cached by shape name, so build one
    compiler per (service model, protocol family).
    """

    def __init__(self, scalar: ScalarRule, *, rename: bool) -> None:
        self._scalar = scalar
        self._rename = rename
        self._cache: dict[str, Conv | None] = {}
        self._needs_cache: dict[str, bool] = {}

    def compile(self, shape: Shape) -> Conv | None:
        kind = shape.type_name
        if kind not in ("structure", "list", "map"):
            return self._scalar(shape)
        if kind == "structure" and shape.metadata.get("document"):
            return None
        name = shape.name
        if name in self._cache:
            return self._cache[name]
        if not self.needs_conversion(shape):
            self._cache[name] = None
            return None
        if kind == "structure":
            struct = _Struct()
            self._cache[name] = struct
            struct.members = self._member_plans(shape, shape.members)
            return struct
        if kind == "list":
            lst = _List()
            self._cache[name] = lst
            lst.conv = self.compile(shape.member)
            return lst
        mapping = _Map()
        self._cache[name] = mapping
        mapping.conv = self.compile(shape.value)
        return mapping

    def compile_members(self, shape: Shape, names: Iterable[str]) -> Conv:
        """A converter for a subset of a structure's members (e.g. the body members of a REST output)."""
        struct = _Struct()
        members = shape.members
        struct.members = self._member_plans(shape, {n: members[n] for n in names})
        return struct

    def wire_name(self, member: Shape, name: str) -> str:
        if self._rename:
            return str(member.serialization.get("name", name))
        return name

    def _member_plans(self, shape: Shape, members: dict[str, Shape]) -> dict[str, tuple[str, Conv | None]]:
        return {
            name: (self.wire_name(member, name), self.compile(member))
            for name, member in members.items()
            if not is_event_stream(member)
        }

    def needs_conversion(self, shape: Shape) -> bool:
        """Whether any value below `shape` must change on its way to the encoder."""
        cached = self._needs_cache.get(shape.name)
        if cached is not None:
            return cached
        result = self._scan(shape)
        self._needs_cache[shape.name] = result
        return result

    def _scan(self, root: Shape) -> bool:
        seen: set[str] = set()
        stack = [root]
        while stack:
            shape = stack.pop()
            kind = shape.type_name
            if kind in ("structure", "list", "map"):
                if shape.name in seen:
                    continue
                seen.add(shape.name)
                if kind == "structure":
                    if shape.metadata.get("document"):
                        continue
                    for name, member in shape.members.items():
                        if self.wire_name(member, name) != name:
                            return True
                        stack.append(member)
                elif kind == "list":
                    stack.append(shape.member)
                else:
                    stack.append(shape.value)
            elif self._scalar(shape) is not None:
                return True
        return False
