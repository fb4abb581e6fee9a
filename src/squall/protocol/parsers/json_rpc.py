"""The `json` protocol (awsJson 1.0/1.1): POST /, `X-Amz-Target`, the whole
input as one JSON object; blobs base64, timestamps epoch seconds."""

from __future__ import annotations

from typing import Any

import orjson
from botocore.model import OperationModel

from squall.protocol.parsers._common import Decoder, Malformed
from squall.protocol.parsers.tree import TreeCompiler
from squall.protocol.types import HttpRequest

_JSON_TYPES = ("application/x-amz-json-1.0", "application/x-amz-json-1.1", "application/json")


def load_json_object(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Malformed(f"Could not parse the request body as JSON: {exc}", structural=True) from None
    if type(value) is not dict:
        raise Malformed("The request body must be a JSON object", structural=True)
    return value


class JsonPlan:
    def __init__(self, op: OperationModel, compiler: TreeCompiler) -> None:
        shape = op.input_shape
        self._decode: Decoder | None = compiler.decoder(shape) if shape is not None else None

    def parse(self, request: HttpRequest, uri_params: dict[str, str]) -> dict[str, Any]:
        content_type = request.headers.get("content-type", "")
        if content_type and not content_type.split(";", 1)[0].strip().lower().startswith(_JSON_TYPES):
            raise Malformed(f"Unsupported Content-Type '{content_type}'", structural=True)
        body = request.body
        if not body.strip() or self._decode is None:
            return {}
        result: dict[str, Any] = self._decode(load_json_object(body))
        return result
