"""Message attributes: validation, size, storage form, and AWS's MD5 digests.

The digest of a set of attributes (MD5OfMessageAttributes, and the same over
system attributes for MD5OfMessageSystemAttributes) is AWS's: for each
attribute in name order, the name, the data type and the value, each as a
4-byte big-endian length followed by the UTF-8 bytes, with a transport byte
(1 for String/Number, 2 for Binary) before the value.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from typing import Any

from squall.services.sqs.errors import invalid_parameter, sqs_error

MAX_ATTRIBUTES = 10
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_INVALID_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
INVALID_CHARS_MESSAGE = (
    "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | "
    "#xE000 to #xFFFD | #x10000 to #x10FFFF"
)
SYSTEM_ATTRIBUTE_NAMES = frozenset(("AWSTraceHeader",))


def check_body(body: str) -> None:
    if _INVALID_CHARS.search(body):
        raise sqs_error("InvalidMessageContents", INVALID_CHARS_MESSAGE)


def check_attributes(attrs: dict[str, Any], *, system: bool = False) -> int:
    """Validate message (or system) attributes; their size in bytes as AWS counts it."""
    kind = "system" if system else "user"
    if not system and len(attrs) > MAX_ATTRIBUTES:
        raise invalid_parameter(
            f"Number of message attributes [{len(attrs)}] exceeds the allowed maximum [{MAX_ATTRIBUTES}]."
        )
    size = 0
    for name, attr in attrs.items():
        if system and name not in SYSTEM_ATTRIBUTE_NAMES:
            raise invalid_parameter(f"Message system attribute name '{name}' is invalid.")
        if not _NAME.fullmatch(name) or name.startswith(".") or name.endswith(".") or ".." in name:
            raise invalid_parameter(f"Message ({kind}) attribute name '{name}' is invalid.")
        if not system and name.lower().startswith(("aws.", "amazon.")):
            raise invalid_parameter(f"Message ({kind}) attribute name '{name}' is invalid.")
        dtype = attr.get("DataType") or ""
        base = dtype.split(".", 1)[0]
        if base not in ("String", "Number", "Binary"):
            raise invalid_parameter(
                f"The type of message ({kind}) attribute '{name}' is invalid. You must use only the "
                "following supported type prefixes: Binary, Number, String."
            )
        if base == "Binary":
            value: bytes = attr.get("BinaryValue") or b""
        else:
            text = attr.get("StringValue") or ""
            if base == "Number" and text and not _NUMBER.fullmatch(text):
                raise invalid_parameter(f"Can't cast message ({kind}) attribute '{name}' to a number.")
            if text:
                check_body(text)
            value = text.encode()
        if not value:
            raise invalid_parameter(
                f"Message ({kind}) attribute '{name}' must contain a non-empty value of type '{base}'."
            )
        size += len(name.encode()) + len(dtype.encode()) + len(value)
    return size


def to_stored(attrs: dict[str, Any]) -> dict[str, dict[str, str]]:
    """JSON-able form: binary values base64-encoded."""
    out: dict[str, dict[str, str]] = {}
    for name, attr in attrs.items():
        dtype = attr["DataType"]
        if dtype.startswith("Binary"):
            out[name] = {"DataType": dtype, "BinaryValue": base64.b64encode(attr["BinaryValue"]).decode()}
        else:
            out[name] = {"DataType": dtype, "StringValue": attr["StringValue"]}
    return out


def from_stored(attrs: dict[str, dict[str, str]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, attr in attrs.items():
        if "BinaryValue" in attr:
            out[name] = {"DataType": attr["DataType"], "BinaryValue": base64.b64decode(attr["BinaryValue"])}
        else:
            out[name] = dict(attr)
    return out


def _field(out: bytearray, raw: bytes) -> None:
    out += struct.pack(">I", len(raw))
    out += raw


def attributes_md5(attrs: dict[str, Any]) -> str | None:
    """AWS's MD5 over message attributes (stored or wire form); None when there are none."""
    if not attrs:
        return None
    buf = bytearray()
    for name in sorted(attrs):
        attr = attrs[name]
        _field(buf, name.encode())
        _field(buf, attr["DataType"].encode())
        if "BinaryValue" in attr:
            raw = attr["BinaryValue"]
            buf.append(2)
            _field(buf, raw if isinstance(raw, bytes) else base64.b64decode(raw))
        else:
            buf.append(1)
            _field(buf, attr["StringValue"].encode())
    return hashlib.md5(buf).hexdigest()


def body_md5(body: str) -> str:
    return hashlib.md5(body.encode()).hexdigest()


def select(attrs: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
    """The attributes a ReceiveMessage asked for: names, "All"/".*", or "prefix.*"."""
    if not wanted or not attrs:
        return {}
    if "All" in wanted or ".*" in wanted:
        return dict(attrs)
    prefixes = tuple(w[:-1] for w in wanted if w.endswith(".*"))
    names = set(wanted)
    return {k: v for k, v in attrs.items() if k in names or (prefixes and k.startswith(prefixes))}
