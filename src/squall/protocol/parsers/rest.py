"""HTTP bindings shared by rest-json and rest-xml: URI labels, query-string
members (scalars, lists, the catch-all map), headers (scalars, lists,
`jsonvalue`, timestamps), prefixed header maps (`x-amz-meta-*`), host labels
and the payload member. The body codec is plugged in by the protocol module."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, unquote

from botocore.model import OperationModel, Shape

from squall.protocol.parsers._common import Malformed, text_scalar
from squall.protocol.types import HttpRequest

TextDecoder = Callable[[str], Any]
BodyDecoder = Callable[[bytes], Any]
"""Decodes a non-empty body into the payload value (or the body members)."""

_HEADER_LIST_ITEM = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^,]*?))\s*(?:,|$)')


@dataclass(frozen=True)
class _Scalar:
    member: str
    wire: str
    decode: TextDecoder


@dataclass(frozen=True)
class _Multi:
    member: str
    wire: str
    decode: TextDecoder


@dataclass
class RestPlan:
    """Everything about one operation's request layout, computed once."""

    uri: list[_Scalar]
    query: list[_Scalar]
    query_lists: list[_Multi]
    query_map: tuple[str, bool] | None  # (member, values are lists)
    query_literals: frozenset[str]
    headers: list[_Scalar]
    header_lists: list[_Multi]
    header_maps: list[tuple[str, str]]  # (member, lower-cased prefix)
    host: tuple[re.Pattern[str], list[tuple[str, TextDecoder]]] | None
    payload: str | None
    payload_raw: str | None  # "blob" or "string" when the body *is* the member
    body: BodyDecoder | None  # payload structure or the unbound members

    def parse(self, request: HttpRequest, uri_params: dict[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for b in self.uri:
            raw = uri_params.get(b.wire)
            if raw is not None:
                _put(out, b.member, b.decode, raw)
        if self.query or self.query_lists or self.query_map:
            self._parse_query(request.query_string, out)
        headers = request.headers
        for b in self.headers:
            raw = headers.get(b.wire)
            if raw is not None:
                _put(out, b.member, b.decode, raw)
        for m in self.header_lists:
            raw = headers.get(m.wire)
            if raw is not None:
                items = split_header_list(raw)
                out[m.member] = _each(m.member, m.decode, items)
        for member, prefix in self.header_maps:
            found = {k[len(prefix) :]: v for k, v in headers.items() if k.startswith(prefix)}
            if found:
                out[member] = found
        if self.host is not None:
            self._parse_host(request.host, out)
        body = request.body
        if self.payload_raw is not None:
            if body:
                out[self.payload_name] = body if self.payload_raw == "blob" else _utf8(body)
        elif self.body is not None and body:
            try:
                decoded = self.body(body)
            except Malformed as exc:
                exc.in_body = True
                raise
            if self.payload is not None:
                out[self.payload] = decoded
            else:
                for key, value in decoded.items():
                    out.setdefault(key, value)
        return out

    @property
    def payload_name(self) -> str:
        assert self.payload is not None
        return self.payload

    def _parse_query(self, query_string: str, out: dict[str, Any]) -> None:
        grouped: dict[str, list[str]] = {}
        for k, v in query_pairs(query_string):
            grouped.setdefault(k, []).append(v)
        claimed = set(self.query_literals)
        for b in self.query:
            claimed.add(b.wire)
            values = grouped.get(b.wire)
            if values is not None:
                _put(out, b.member, b.decode, values[0])
        for m in self.query_lists:
            claimed.add(m.wire)
            values = grouped.get(m.wire)
            if values is not None:
                out[m.member] = _each(m.member, m.decode, values)
        if self.query_map is not None:
            member, multi = self.query_map
            rest = {k: (v if multi else v[0]) for k, v in grouped.items() if k not in claimed}
            if rest:
                out[member] = rest

    def _parse_host(self, host: str, out: dict[str, Any]) -> None:
        assert self.host is not None
        pattern, labels = self.host
        match = pattern.match(host)
        if match is None:
            return
        for (member, decode), raw in zip(labels, match.groups(), strict=True):
            if member not in out:
                _put(out, member, decode, raw)


def _utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("The request body is not valid UTF-8", structural=True) from None


def _put(out: dict[str, Any], member: str, decode: TextDecoder, raw: str) -> None:
    try:
        out[member] = decode(raw)
    except Malformed as exc:
        exc.path.append(member)
        raise


def _each(member: str, decode: TextDecoder, raw: list[str]) -> list[Any]:
    try:
        return [decode(x) for x in raw]
    except Malformed as exc:
        exc.path.append(member)
        raise


def split_header_list(value: str) -> list[str]:
    """Split a list header (`a, "b,c", d`): items are comma separated and an
    item holding a comma or quote is double-quoted with backslash escapes."""
    if '"' not in value:
        return [item.strip() for item in value.split(",")]
    items: list[str] = []
    pos = 0
    while pos < len(value):
        match = _HEADER_LIST_ITEM.match(value, pos)
        if match is None or match.end() == pos:
            raise Malformed(f"Invalid list header value '{value}'")
        quoted, plain = match.groups()
        items.append(re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else plain)
        pos = match.end()
    return items


def _json_value(text: str) -> Any:
    try:
        return json.loads(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        raise Malformed("Invalid base64-encoded JSON header value") from None


def _host_plan(
    op: OperationModel, members: dict[str, Shape]
) -> tuple[re.Pattern[str], list[tuple[str, TextDecoder]]] | None:
    prefix = (op.endpoint or {}).get("hostPrefix")
    if not prefix:
        return None
    labels: list[tuple[str, TextDecoder]] = []
    regex = ""
    for literal, label in re.findall(r"([^{]*)(?:\{([^}]*)\})?", prefix):
        regex += re.escape(literal)
        if label:
            regex += r"([A-Za-z0-9\-]+)"
            labels.append((label, text_scalar(members[label], "iso8601")))
    return (re.compile(regex), labels) if labels else None


def build_plan(op: OperationModel, body_for: Callable[[Shape, dict[str, Shape]], BodyDecoder]) -> RestPlan:
    """The REST plan for `op`; `body_for(shape, members)` builds the body
    decoder for a payload shape (members = its members) or for the input
    structure restricted to its unbound members."""
    shape = op.input_shape
    plan = RestPlan([], [], [], None, frozenset(), [], [], [], None, None, None, None)
    request_uri = str(op.http.get("requestUri", "/"))
    if "?" in request_uri:
        literal_query = request_uri.split("?", 1)[1]
        plan.query_literals = frozenset(k for k, _ in parse_qsl(literal_query, keep_blank_values=True))
    if shape is None:
        return plan
    members: dict[str, Shape] = dict(shape.members)
    body_members: dict[str, Shape] = {}
    for name, member in members.items():
        loc = member.serialization.get("location")
        wire = str(member.serialization.get("name", name))
        if loc == "uri":
            plan.uri.append(_Scalar(name, wire, text_scalar(member, "iso8601")))
        elif loc == "querystring":
            if member.type_name == "map":
                plan.query_map = (name, member.value.type_name == "list")
            elif member.type_name == "list":
                plan.query_lists.append(_Multi(name, wire, text_scalar(member.member, "iso8601")))
            else:
                plan.query.append(_Scalar(name, wire, text_scalar(member, "iso8601")))
        elif loc == "header":
            if member.type_name == "list":
                plan.header_lists.append(_Multi(name, wire.lower(), text_scalar(member.member, "rfc822")))
            elif member.serialization.get("jsonvalue"):
                plan.headers.append(_Scalar(name, wire.lower(), _json_value))
            else:
                plan.headers.append(_Scalar(name, wire.lower(), text_scalar(member, "rfc822")))
        elif loc == "headers":
            plan.header_maps.append((name, wire.lower()))
        elif loc is None:
            body_members[name] = member
    plan.host = _host_plan(op, members)
    payload = shape.serialization.get("payload")
    if payload is not None:
        plan.payload = str(payload)
        target = members[plan.payload]
        if target.type_name in ("blob", "string"):
            plan.payload_raw = target.type_name
        else:
            plan.body = body_for(target, dict(target.members))
    elif body_members:
        plan.body = body_for(shape, body_members)
    return plan


def query_pairs(query_string: str) -> list[tuple[str, str]]:
    """The decoded (name, value) pairs of a query string, in order, blanks kept: what
    `urllib.parse.parse_qsl(qs, keep_blank_values=True, errors="strict")` returns, without
    decoding the parts that hold no escape. Malformed for percent-escapes that are not UTF-8."""
    pairs: list[tuple[str, str]] = []
    try:
        for part in query_string.split("&"):
            if not part:
                continue
            name, _, value = part.partition("=")
            if "+" in name or "%" in name:
                name = _decode(name)
            if "+" in value or "%" in value:
                value = _decode(value)
            pairs.append((name, value))
    except UnicodeDecodeError:
        raise Malformed("The query string is not valid UTF-8", structural=True) from None
    return pairs


def _decode(component: str) -> str:
    if len(component) <= 256:
        return _decode_cached(component)
    return unquote(component.replace("+", " "), errors="strict")


@lru_cache(maxsize=1024)
def _decode_cached(component: str) -> str:
    """Short escaped components recur (a presigned URL's `X-Amz-Credential` scope)."""
    return unquote(component.replace("+", " "), errors="strict")
