"""A published message: validation of its parts (attributes, subject, structure, FIFO fields)."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from squall.services.sns.errors import invalid_parameter, invalid_value
from squall.services.sns.records import Topic

MAX_SIZE = 262_144
_ATTR_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")


@dataclass(frozen=True)
class Message:
    """What Publish accepted. `attributes` are stored as {name: {"Type", "Value"}} (binary base64),
    the form the Notification envelope shows; `structure` holds the per-protocol messages of
    MessageStructure=json."""

    id: str
    topic_arn: str
    message: str
    timestamp: str
    subject: str | None = None
    attributes: dict[str, dict[str, str]] | None = None
    structure: dict[str, str] | None = None
    group: str | None = None
    dedup: str | None = None
    sequence_number: str | None = None

    def body_for(self, protocol: str) -> str:
        if self.structure is None:
            return self.message
        return self.structure.get(protocol, self.structure["default"])

    @property
    def delivered_attributes(self) -> dict[str, dict[str, str]]:
        """Attributes subscribers receive: none for MessageStructure=json (AWS sends them only with a
        string message structure)."""
        return (self.attributes or {}) if self.structure is None else {}


def iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def check_attributes(attributes: dict[str, Any] | None) -> tuple[dict[str, dict[str, str]], int]:
    """Validate wire-form message attributes ({name: {DataType, StringValue | BinaryValue}}):
    the stored form and their size in bytes."""
    out: dict[str, dict[str, str]] = {}
    size = 0
    for name, attr in (attributes or {}).items():
        if (
            not _ATTR_NAME.fullmatch(name)
            or name.lower().startswith((".", "aws.", "amazon."))
            or name.endswith(".")
            or ".." in name
        ):
            raise invalid_value(f"The message attribute name '{name}' is invalid.")
        dtype: str = attr.get("DataType") or ""
        base = dtype.split(".", 1)[0]
        if base not in ("String", "Number", "Binary"):
            raise invalid_value(
                f"The message attribute '{name}' has an invalid message attribute type, the set of "
                "supported type prefixes is Binary, Number, and String."
            )
        if base == "Binary":
            raw = attr.get("BinaryValue")
            if not raw:
                raise _empty(name, dtype)
            value = base64.b64encode(raw if isinstance(raw, bytes) else str(raw).encode()).decode()
            size += len(raw)
        else:
            value = attr.get("StringValue")
            if value is None or value == "":
                raise _empty(name, dtype)
            if base == "Number":
                _check_number(name, value)
            if dtype == "String.Array":
                _check_array(name, value)
            size += len(value.encode())
        size += len(name.encode()) + len(dtype.encode())
        out[name] = {"Type": dtype, "Value": value}
    return out, size


def _empty(name: str, dtype: str) -> Exception:
    return invalid_value(
        f"The message attribute '{name}' must contain non-empty message attribute value for message "
        f"attribute type '{dtype}'."
    )


def _check_number(name: str, value: str) -> None:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise invalid_value(f"Could not cast message attribute '{name}' value to number.") from None
    if not number.is_finite() or abs(number) > Decimal("1e9"):
        raise invalid_value(
            f"Value {value} for parameter MessageAttributes is invalid. Reason: Number values must be "
            "between -10^9 and 10^9 with up to 5 decimal places."
        )


def _check_array(name: str, value: str) -> None:
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        doc = None
    if not isinstance(doc, list) or any(isinstance(v, dict | list) for v in doc):
        raise invalid_parameter(
            f"Message attribute '{name}' with type 'String.Array' has an invalid value: {value}"
        )


def check_subject(subject: str | None) -> None:
    if subject is None:
        return
    if (
        not subject
        or len(subject) > 100
        or not subject.isascii()
        or any(ord(c) < 32 for c in subject)
        or not subject[0].isprintable()
    ):
        raise invalid_parameter("Subject")


def check_structure(message: str, structure: str | None) -> dict[str, str] | None:
    if structure is None:
        return None
    if structure != "json":
        raise invalid_parameter("MessageStructure")
    try:
        doc = orjson.loads(message)
    except orjson.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict):
        raise invalid_parameter("Message Structure - JSON message body failed to parse")
    if "default" not in doc:
        raise invalid_parameter("Message Structure - No default entry in JSON message body")
    if not all(isinstance(v, str) for v in doc.values()):
        raise invalid_parameter("Message Structure - JSON message body failed to parse")
    return doc


def build(topic: Topic, params: dict[str, Any]) -> Message:
    """Validate Publish's (or a PublishBatch entry's) message parts for `topic`; the unsaved message
    (no sequence number yet)."""
    message = params.get("Message")
    if message is None or message == "":
        raise invalid_parameter("Empty message")
    check_subject(params.get("Subject"))
    structure = check_structure(message, params.get("MessageStructure"))
    attributes, size = check_attributes(params.get("MessageAttributes"))
    if len(message.encode()) + size > MAX_SIZE:
        raise invalid_parameter("Message too long")
    group, dedup = params.get("MessageGroupId"), params.get("MessageDeduplicationId")
    if topic.fifo:
        if not group:
            raise invalid_parameter("The MessageGroupId parameter is required for FIFO topics")
        if dedup is None:
            if topic.attributes.get("ContentBasedDeduplication") != "true":
                raise invalid_parameter(
                    "The topic should either have ContentBasedDeduplication enabled or "
                    "MessageDeduplicationId provided explicitly"
                )
            dedup = hashlib.sha256(message.encode()).hexdigest()
    elif dedup is not None:
        raise invalid_parameter(
            "MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that "
            "is not valid for this topic type"
        )
    for name, value in (("MessageGroupId", group), ("MessageDeduplicationId", dedup)):
        if value is not None and not re.fullmatch(r"[\x21-\x7e]{1,128}", value):
            raise invalid_parameter(name)
    return Message(
        id=str(uuid.uuid4()),
        topic_arn=topic.arn,
        message=message,
        timestamp=iso_now(),
        subject=params.get("Subject"),
        attributes=attributes or None,
        structure=structure,
        group=group,
        dedup=dedup,
    )
