"""The `query` protocol (IAM, STS, SNS, CloudWatch): form-encoded parameters
in the body (POST) or the query string (GET). Keys are dotted paths:
`A.B` for nested structures, `L.member.N` for lists (`L.N` when flattened, the
list member's locationName replacing the last segment), `M.entry.N.key` /
`.value` for maps (`M.N.key` when flattened), `L=` for an empty list."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from botocore.model import OperationModel, Shape

from squall.protocol.parsers._common import Decoder, Malformed, Memo, text_scalar
from squall.protocol.types import HttpRequest


def _structural(message: str) -> Malformed:
    return Malformed(message, structural=True)


def query_params(request: HttpRequest) -> list[tuple[str, str]]:
    """The form parameters of a query-protocol request, body first."""
    pairs: list[tuple[str, str]] = []
    try:
        if request.query_string:
            pairs.extend(_form_pairs(request.query_string))
        if request.body:
            content_type = request.headers.get("content-type", "")
            media = content_type.split(";", 1)[0].strip().lower()
            if media and media != "application/x-www-form-urlencoded":
                raise _structural(f"Unsupported Content-Type '{content_type}'")
            text = request.body.decode("utf-8")
            pairs.extend(_form_pairs(text))
    except UnicodeDecodeError:
        raise _structural("The request is not valid UTF-8") from None
    return pairs


def _form_pairs(text: str) -> list[tuple[str, str]]:
    """`parse_qsl(text, keep_blank_values=True, errors="strict")`, decoding only
    the fields that need it."""
    pairs: list[tuple[str, str]] = []
    for field in text.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        if "%" in field or "+" in field:
            name = unquote(name.replace("+", " "), errors="strict")
            value = unquote(value.replace("+", " "), errors="strict")
        pairs.append((name, value))
    return pairs


def build_tree(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.split(".")
        node = root
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if type(child) is not dict:
                raise _structural(f"Parameter '{key}' conflicts with another parameter")
            node = child
        last = parts[-1]
        if type(node.get(last)) is dict:
            raise _structural(f"Parameter '{key}' conflicts with another parameter")
        node[last] = value
    return root


def _indexed(node: Any) -> list[Any]:
    if type(node) is not dict:
        raise _structural("Expected indexed list members")
    try:
        items = sorted((int(k), v) for k, v in node.items())
    except ValueError:
        raise _structural("List and map indexes must be integers") from None
    return [v for _, v in items]


class QueryCompiler:
    def __init__(self) -> None:
        self._memo: Memo[Decoder] = Memo()

    def decoder(self, shape: Shape) -> Decoder:
        return self._memo.get(shape, self._build)

    def _build(self, shape: Shape) -> Decoder:
        t = shape.type_name
        if t == "structure":
            return self._structure(shape)
        if t == "list":
            return self._list(shape)
        if t == "map":
            return self._map(shape)
        scalar = text_scalar(shape, "iso8601")

        def decode(node: Any) -> Any:
            if type(node) is not str:
                raise _structural("Expected a single value, found nested parameters")
            return scalar(node)

        return decode

    def _structure(self, shape: Shape) -> Decoder:
        table: list[tuple[str, str, Decoder]] = []
        for name, member in shape.members.items():
            wire = str(member.serialization.get("name", name))
            if member.type_name == "list" and member.serialization.get("flattened"):
                wire = str(member.member.serialization.get("name", wire))
            table.append((name, wire, self.decoder(member)))

        def decode(node: Any) -> Any:
            if type(node) is not dict:
                if node == "":
                    return {}
                raise _structural("Expected nested parameters, found a single value")
            out: dict[str, Any] = {}
            for name, wire, member_decoder in table:
                item = node.get(wire)
                if item is None:
                    continue
                try:
                    out[name] = member_decoder(item)
                except Malformed as exc:
                    exc.path.append(wire)
                    raise
            return out

        return decode

    def _list(self, shape: Shape) -> Decoder:
        item_decoder = self.decoder(shape.member)
        flattened = bool(shape.serialization.get("flattened"))
        member_name = str(shape.member.serialization.get("name", "member"))

        def decode(node: Any) -> Any:
            if node == "":
                return []
            if not flattened:
                if type(node) is not dict or member_name not in node:
                    raise _structural(f"Expected list items under '{member_name}'")
                node = node[member_name]
            out = []
            for i, item in enumerate(_indexed(node), 1):
                try:
                    out.append(item_decoder(item))
                except Malformed as exc:
                    exc.path.append(str(i))
                    raise
            return out

        return decode

    def _map(self, shape: Shape) -> Decoder:
        key_decoder = self.decoder(shape.key)
        value_decoder = self.decoder(shape.value)
        flattened = bool(shape.serialization.get("flattened"))
        key_name = str(shape.key.serialization.get("name", "key"))
        value_name = str(shape.value.serialization.get("name", "value"))

        def decode(node: Any) -> Any:
            if node == "":
                return {}
            if not flattened:
                if type(node) is not dict or "entry" not in node:
                    raise _structural("Expected map entries under 'entry'")
                node = node["entry"]
            out: dict[Any, Any] = {}
            for entry in _indexed(node):
                if type(entry) is not dict or key_name not in entry:
                    raise _structural(f"Map entry without '{key_name}'")
                key = key_decoder(entry[key_name])
                if value_name in entry:
                    try:
                        out[key] = value_decoder(entry[value_name])
                    except Malformed as exc:
                        exc.path.append(str(key))
                        raise
            return out

        return decode


class QueryPlan:
    def __init__(self, op: OperationModel, compiler: QueryCompiler) -> None:
        shape = op.input_shape
        self._decode: Decoder | None = compiler.decoder(shape) if shape is not None else None

    def parse(self, request: HttpRequest, uri_params: dict[str, str]) -> dict[str, Any]:
        tree = build_tree(query_params(request))
        if self._decode is None:
            return {}
        result: dict[str, Any] = self._decode(tree)
        return result
