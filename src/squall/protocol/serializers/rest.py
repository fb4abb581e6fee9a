"""What REST protocols (rest-json, rest-xml) share: status code, header members, payload, body members."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from botocore.model import OperationModel, Shape

from squall.protocol.serializers import values as v

EVENT_STREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"


@dataclass(frozen=True)
class RestLayout:
    """Where each member of a structure travels in a REST response.

    `payload` names the member that *is* the body (blob, string, structure or
    event stream), else `body` lists the members serialized into the body document.
    """

    status_member: str | None
    headers: tuple[tuple[str, str, Shape], ...]
    prefixed: tuple[tuple[str, str], ...]
    payload: str | None
    payload_shape: Shape | None
    body: tuple[str, ...]

    @property
    def payload_kind(self) -> str | None:
        if self.payload_shape is None:
            return None
        if self.payload_shape.serialization.get("eventstream"):
            return "eventstream"
        return str(self.payload_shape.type_name)


def layout(shape: Shape | None) -> RestLayout:
    status = None
    headers: list[tuple[str, str, Shape]] = []
    prefixed: list[tuple[str, str]] = []
    body: list[str] = []
    payload = None
    payload_shape = None
    if shape is not None:
        payload = shape.serialization.get("payload")
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            if location == "statusCode":
                status = name
            elif location == "header":
                headers.append((name, str(member.serialization.get("name", name)), member))
            elif location == "headers":
                prefixed.append((name, str(member.serialization.get("name", ""))))
            elif location is None and name != payload and not member.serialization.get("eventstream"):
                body.append(name)
        if payload is not None:
            payload_shape = shape.members[payload]
            body = []
    return RestLayout(status, tuple(headers), tuple(prefixed), payload, payload_shape, tuple(body))


def header_value(shape: Shape, value: Any) -> str:
    """One header member as text: HTTP-date timestamps by default, base64 blobs and JSON values,
    comma-separated lists."""
    kind = shape.type_name
    if kind == "string":
        if shape.serialization.get("jsonvalue"):
            return v.b64(orjson.dumps(value))
        return str(value)
    if kind == "timestamp":
        return v.timestamp_text(value, str(shape.serialization.get("timestampFormat", "rfc822")))
    if kind == "boolean":
        return v.bool_text(value)
    if kind in ("integer", "long"):
        return str(int(value))
    if kind in ("float", "double"):
        return v.number_text(value)
    if kind == "blob":
        return v.b64(value)
    if kind == "list":
        return ",".join(header_value(shape.member, item) for item in value if item is not None)
    return str(value)


def add_headers(
    plan: RestLayout,
    output: dict[str, Any],
    out: list[tuple[str, str]],
    *,
    skip: frozenset[str] = frozenset(),
) -> None:
    """Append the header and prefixed-header members of `output` to `out`.

    Header names in `skip` (lower case) are left to the gateway (e.g. Content-Length).
    """
    for name, header, shape in plan.headers:
        value = output.get(name)
        if value is None or header.lower() in skip:
            continue
        if shape.type_name == "list" and not value:
            continue
        out.append((header, header_value(shape, value)))
    for name, prefix in plan.prefixed:
        mapping = output.get(name)
        if mapping:
            out.extend((prefix + str(key), str(val)) for key, val in mapping.items() if val is not None)


#: An output key a provider sets to answer with another status than the model's (S3 RestoreObject: 202).
STATUS_OVERRIDE = "__status__"


def status_code(plan: RestLayout, operation: OperationModel | None, output: dict[str, Any]) -> int:
    if output.get(STATUS_OVERRIDE) is not None:
        return int(output[STATUS_OVERRIDE])
    if plan.status_member is not None:
        code = output.get(plan.status_member)
        if code is not None:
            return int(code)
    if operation is not None:
        return int(operation.http.get("responseCode", 200))
    return 200


def has_header(headers: list[tuple[str, str]], name: str) -> bool:
    lower = name.lower()
    return any(k.lower() == lower for k, _ in headers)


def raw_payload(plan: RestLayout, value: Any, headers: list[tuple[str, str]]) -> bytes:
    """The body of a blob, string or event-stream payload member; sets a default Content-Type."""
    kind = plan.payload_kind
    if kind == "string":
        default = "text/plain"
    elif kind == "eventstream":
        default = EVENT_STREAM_CONTENT_TYPE
    else:
        default = "application/octet-stream"
    if not has_header(headers, "Content-Type"):
        headers.append(("Content-Type", default))
    if value is None:
        return b""
    return v.blob_bytes(value)
