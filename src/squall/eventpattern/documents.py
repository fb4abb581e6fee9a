"""The documents patterns are matched against, built from what each service holds."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any


def _number(text: str) -> int | float | str:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def sns_attributes_document(message_attributes: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """SNS MessageAttributes as the document an attribute-scope filter policy matches.

    Accepts the API shape ({"DataType", "StringValue"}) or the notification
    envelope's ({"Type", "Value"}). String -> str; Number -> int or float;
    String.Array -> the parsed JSON list (the raw string if it does not parse);
    Binary is left out: SNS never matches it, so it counts as absent.
    """
    doc: dict[str, Any] = {}
    for name, attr in message_attributes.items():
        data_type = attr.get("DataType") or attr.get("Type") or "String"
        value = attr.get("StringValue", attr.get("Value"))
        base = data_type.split(".", 1)[0]
        if base == "Binary" or value is None:
            continue
        if data_type == "String.Array":
            try:
                doc[name] = json.loads(value)
            except ValueError:
                doc[name] = value
        elif base == "Number":
            doc[name] = _number(value)
        else:
            doc[name] = value
    return doc


def _parse_json_container(text: str) -> Any:
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    return parsed if isinstance(parsed, dict | list) else text


def lambda_record_document(record: Mapping[str, Any]) -> dict[str, Any]:
    """An event source mapping record as Lambda's FilterCriteria see it.

    SQS: `body` becomes the parsed JSON when it is a JSON object or array, else
    stays the string. Kinesis: `data` (top level, as Lambda filters it) is the
    base64-decoded payload, parsed the same way. Other records are unchanged.
    """
    doc = dict(record)
    body = doc.get("body")
    if isinstance(body, str):
        doc["body"] = _parse_json_container(body)
    kinesis = doc.get("kinesis")
    if isinstance(kinesis, Mapping) and isinstance(kinesis.get("data"), str):
        try:
            raw = base64.b64decode(kinesis["data"], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            doc["data"] = kinesis["data"]
        else:
            doc["data"] = _parse_json_container(raw)
    return doc
