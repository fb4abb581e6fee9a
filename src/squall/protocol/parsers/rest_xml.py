"""The `rest-xml` protocol (S3): HTTP bindings plus an XML payload. Element
names come from locationName (else the member name), namespaces are ignored
when matching, lists are wrapped (`<L><member>..`) or flattened (repeated
`<L>`), maps `<M><entry><key/><value/></entry></M>` or flattened, and
`xmlAttribute` members are read from the structure's own attributes."""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element, ParseError, XMLParser

from botocore.model import OperationModel, Shape

from squall.protocol.parsers._common import Decoder, Malformed, Memo, text_scalar
from squall.protocol.parsers.rest import BodyDecoder, RestPlan, build_plan


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _bad_xml() -> Malformed:
    return Malformed("The XML you provided was not well-formed or did not validate", structural=True)


def load_xml(body: bytes) -> Element:
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise _bad_xml()
    parser = XMLParser()
    try:
        parser.feed(body)
        root: Element = parser.close()
    except ParseError:
        raise _bad_xml() from None
    return root


class XmlCompiler:
    def __init__(self) -> None:
        self._memo: Memo[Decoder] = Memo()

    def decoder(self, shape: Shape) -> Decoder:
        return self._memo.get(shape, self._build)

    def _build(self, shape: Shape) -> Decoder:
        t = shape.type_name
        if t == "structure":
            return self.structure(shape, dict(shape.members))
        if t == "list":
            item = self.decoder(shape.member)
            return lambda elem: [item(child) for child in elem]
        if t == "map":
            return self._map(shape)
        scalar = text_scalar(shape, "iso8601")
        if t == "string":
            return lambda elem: elem.text or ""

        def decode(elem: Any) -> Any:
            return scalar(elem.text or "")

        return decode

    def structure(self, shape: Shape, members: dict[str, Shape]) -> Decoder:
        """Decoder for an element holding `members` of `shape`."""
        singles: dict[str, tuple[str, Decoder]] = {}
        repeated: dict[str, tuple[str, Decoder, bool]] = {}  # flattened lists / maps
        attributes: dict[str, tuple[str, Decoder]] = {}
        for name, member in members.items():
            wire = str(member.serialization.get("name", name))
            if member.serialization.get("xmlAttribute"):
                scalar = text_scalar(member, "iso8601")
                attributes[wire.rpartition(":")[2]] = (name, scalar)
            elif member.serialization.get("flattened") and member.type_name == "list":
                repeated[wire] = (name, self.decoder(member.member), False)
                alias = member.member.serialization.get("name")
                if alias:
                    repeated.setdefault(str(alias), (name, self.decoder(member.member), False))
            elif member.serialization.get("flattened") and member.type_name == "map":
                repeated[wire] = (name, self._pair_decoder(member), True)
            else:
                singles[wire] = (name, self.decoder(member))

        def decode(elem: Any) -> Any:
            out: dict[str, Any] = {}
            if attributes and elem.attrib:
                for key, raw in elem.attrib.items():
                    found = attributes.get(_local(key))
                    if found is not None:
                        _store(out, found[0], found[1], raw)
            for child in elem:
                tag = _local(child.tag)
                many = repeated.get(tag)
                if many is None:
                    single = singles.get(tag)
                    if single is not None:
                        _store(out, single[0], single[1], child)
                    continue
                name, item_decoder, is_map = many
                try:
                    value = item_decoder(child)
                except Malformed as exc:
                    exc.path.append(name)
                    raise
                if is_map:
                    out.setdefault(name, {})[value[0]] = value[1]
                else:
                    out.setdefault(name, []).append(value)
            return out

        return decode

    def _pair_decoder(self, shape: Shape) -> Decoder:
        key_decoder = self.decoder(shape.key)
        value_decoder = self.decoder(shape.value)
        key_name = str(shape.key.serialization.get("name", "key"))
        value_name = str(shape.value.serialization.get("name", "value"))

        def decode(entry: Any) -> Any:
            key: Any = None
            value: Any = None
            for part in entry:
                tag = _local(part.tag)
                if tag == key_name:
                    key = key_decoder(part)
                elif tag == value_name:
                    value = value_decoder(part)
            if key is None:
                raise Malformed(f"Map entry without <{key_name}>", structural=True)
            return (key, value)

        return decode

    def _map(self, shape: Shape) -> Decoder:
        pair = self._pair_decoder(shape)
        return lambda elem: dict(pair(entry) for entry in elem)


def _store(out: dict[str, Any], name: str, decode: Decoder, raw: Any) -> None:
    try:
        out[name] = decode(raw)
    except Malformed as exc:
        exc.path.append(name)
        raise


def rest_xml_plan(op: OperationModel, compiler: XmlCompiler) -> RestPlan:
    def body_for(shape: Shape, members: dict[str, Shape]) -> BodyDecoder:
        decode = compiler.structure(shape, members)
        root_name = str(shape.serialization.get("name", shape.name))

        def parse(body: bytes) -> Any:
            if not body.strip():
                return {}
            root = load_xml(body)
            if _local(root.tag) != root_name:
                raise _bad_xml()
            return decode(root)

        return parse

    return build_plan(op, body_for)
