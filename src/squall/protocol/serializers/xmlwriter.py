"""Compiled XML writers for the query and rest-xml protocols.

A shape compiles to a writer `write(out, tag, ns, value)` that appends the
element(s) for `value` to the list `out`. Element names follow botocore's
rules: members under their `locationName` (else the member name); lists
wrapped with `member` (or the list member's `locationName`) items unless
`flattened`, flattened lists repeating the list member's `locationName`;
maps as `entry`/`key`/`value` unless flattened; `xmlAttribute` members as
attributes of their structure; `xmlNamespace` as `xmlns[:prefix]`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from botocore.model import Shape

from squall.protocol.serializers import values as v

Writer = Callable[[list[str], str, str, Any], None]


def namespace_attr(shape: Shape) -> str:
    ns = shape.serialization.get("xmlNamespace")
    if not ns:
        return ""
    if isinstance(ns, str):
        return f' xmlns="{v.xml_attr(ns)}"'
    prefix = ns.get("prefix")
    uri = v.xml_attr(str(ns.get("uri", "")))
    return f' xmlns:{prefix}="{uri}"' if prefix else f' xmlns="{uri}"'


def _text_rule(shape: Shape) -> Callable[[Any], str]:
    kind = shape.type_name
    if kind == "string":
        return lambda value: v.xml_text(str(value))
    if kind == "boolean":
        return v.bool_text
    if kind in ("integer", "long"):
        return lambda value: str(int(value))
    if kind in ("float", "double"):
        return v.number_text
    if kind == "timestamp":
        fmt = str(shape.serialization.get("timestampFormat", "iso8601"))
        return lambda value: v.timestamp_text(value, fmt)
    if kind == "blob":
        return v.b64
    if kind == "structure":  # a document: JSON text, no XML protocol models one
        return lambda value: v.xml_text(orjson.dumps(value).decode())
    return lambda value: v.xml_text(str(value))


def _string_writer(out: list[str], tag: str, ns: str, value: Any) -> None:
    text = value if type(value) is str else str(value)
    out.append(f"<{tag}{ns}>{v.xml_text(text)}</{tag}>")


def _scalar_writer(shape: Shape) -> Writer:
    if shape.type_name == "string":
        return _string_writer
    text = _text_rule(shape)

    def write(out: list[str], tag: str, ns: str, value: Any) -> None:
        out.append(f"<{tag}{ns}>{text(value)}</{tag}>")

    return write


class _StructWriter:
    __slots__ = ("attributes", "members")

    def __init__(self) -> None:
        # (member name, element name, xmlns attribute, writer)
        self.members: list[tuple[str, str, str, Writer]] = []
        # (member name, attribute name, text rule)
        self.attributes: list[tuple[str, str, Callable[[Any], str]]] = []

    def attrs(self, value: dict[str, Any]) -> str:
        parts = []
        for name, attr, text in self.attributes:
            item = value.get(name)
            if item is not None:
                parts.append(f' {attr}="{v.xml_attr(text(item))}"')
        return "".join(parts)

    def children(self, out: list[str], value: dict[str, Any]) -> None:
        for name, tag, ns, write in self.members:
            item = value.get(name)
            if item is not None:
                write(out, tag, ns, item)

    def __call__(self, out: list[str], tag: str, ns: str, value: dict[str, Any]) -> None:
        out.append(f"<{tag}{ns}{self.attrs(value) if self.attributes else ''}>")
        self.children(out, value)
        out.append(f"</{tag}>")


class XmlCompiler:
    """Writers for the shapes of one service model; containers cached by shape name."""

    def __init__(self) -> None:
        self._cache: dict[str, Writer] = {}

    def writer(self, shape: Shape) -> Writer:
        kind = shape.type_name
        if kind == "structure" and not shape.metadata.get("document"):
            return self.struct(shape)
        if kind == "list":
            return self._list(shape)
        if kind == "map":
            return self._map(shape)
        return _scalar_writer(shape)

    def struct(self, shape: Shape, only: tuple[str, ...] | None = None) -> _StructWriter:
        """The writer of a structure; with `only`, an uncached writer of just those members."""
        if only is None:
            cached = self._cache.get(shape.name)
            if isinstance(cached, _StructWriter):
                return cached
        plan = _StructWriter()
        if only is None:
            self._cache[shape.name] = plan
        for name, member in shape.members.items():
            if only is not None and name not in only:
                continue
            ser = member.serialization
            if ser.get("eventstream") or (only is None and ser.get("location")):
                continue
            if ser.get("xmlAttribute"):
                plan.attributes.append((name, str(ser.get("name", name)), _text_rule(member)))
                continue
            plan.members.append(
                (name, element_name(member, name), namespace_attr(member), self.writer(member))
            )
        return plan

    def _list(self, shape: Shape) -> Writer:
        # `flattened` may be set on the member reference, so it is part of the key
        flattened = bool(shape.serialization.get("flattened"))
        key = f"{shape.name}/flat" if flattened else shape.name
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        item_tag = str(shape.member.serialization.get("name", "member"))
        cell: list[Writer] = []

        def write(out: list[str], tag: str, ns: str, value: list[Any]) -> None:
            item_writer = cell[0]
            if flattened:
                for item in value:
                    if item is not None:
                        item_writer(out, tag, ns, item)
                return
            out.append(f"<{tag}{ns}>")
            for item in value:
                if item is not None:
                    item_writer(out, item_tag, "", item)
            out.append(f"</{tag}>")

        self._cache[key] = write
        cell.append(self.writer(shape.member))
        return write

    def _map(self, shape: Shape) -> Writer:
        flattened = bool(shape.serialization.get("flattened"))
        key = f"{shape.name}/flat" if flattened else shape.name
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        key_tag = str(shape.key.serialization.get("name", "key"))
        value_tag = str(shape.value.serialization.get("name", "value"))
        key_text = _text_rule(shape.key)
        cell: list[Writer] = []

        def write(out: list[str], tag: str, ns: str, value: dict[Any, Any]) -> None:
            value_writer = cell[0]
            if not flattened:
                out.append(f"<{tag}{ns}>")
            entry = tag if flattened else "entry"
            for key, item in value.items():
                if item is None:
                    continue
                out.append(f"<{entry}><{key_tag}>{key_text(key)}</{key_tag}>")
                value_writer(out, value_tag, "", item)
                out.append(f"</{entry}>")
            if not flattened:
                out.append(f"</{tag}>")

        self._cache[key] = write
        cell.append(self.writer(shape.value))
        return write


def element_name(member: Shape, name: str) -> str:
    """The element a structure member travels as (botocore's `_member_key_name`)."""
    ser = member.serialization
    if member.type_name == "list" and ser.get("flattened"):
        item_name = member.member.serialization.get("name")
        if item_name is not None:
            return str(item_name)
    return str(ser.get("name", name))
