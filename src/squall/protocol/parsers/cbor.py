"""The `smithy-rpc-v2-cbor` protocol: POST /service/S/operation/O with a CBOR
map body; blobs are byte strings, timestamps tag 1 (epoch seconds)."""

from __future__ import annotations

from typing import Any

import cbor2
from botocore.model import OperationModel

from squall.protocol.parsers._common import Decoder, Malformed
from squall.protocol.parsers.tree import TreeCompiler
from squall.protocol.types import HttpRequest


class CborPlan:
    def __init__(self, op: OperationModel, compiler: TreeCompiler) -> None:
        shape = op.input_shape
        self._decode: Decoder | None = compiler.decoder(shape) if shape is not None else None

    def parse(self, request: HttpRequest, uri_params: dict[str, str]) -> dict[str, Any]:
        body = request.body
        if not body:
            return {}
        content_type = request.headers.get("content-type", "")
        if content_type.split(";", 1)[0].strip().lower() != "application/cbor":
            raise Malformed(f"Unsupported Content-Type '{content_type}'", structural=True)
        try:
            value = cbor2.loads(body)
        except Exception as exc:  # cbor2 raises several types for bad input
            raise Malformed(f"Could not parse the request body as CBOR: {exc}", structural=True) from None
        if type(value) is not dict:
            raise Malformed("The request body must be a CBOR map", structural=True)
        if self._decode is None:
            return {}
        result: dict[str, Any] = self._decode(value)
        return result
