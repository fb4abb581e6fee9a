"""The `rest-json` protocol: HTTP bindings plus a JSON body (or a raw payload)."""

from __future__ import annotations

from typing import Any

import orjson
from botocore.model import OperationModel, Shape

from squall.protocol.parsers._common import Malformed
from squall.protocol.parsers.json_rpc import load_json_object
from squall.protocol.parsers.rest import BodyDecoder, RestPlan, build_plan
from squall.protocol.parsers.tree import TreeCompiler


def rest_json_plan(op: OperationModel, compiler: TreeCompiler) -> RestPlan:
    def body_for(shape: Shape, members: dict[str, Shape]) -> BodyDecoder:
        if shape.metadata.get("document"):
            return _document
        decode = compiler.structure(shape, members)

        def parse(body: bytes) -> Any:
            if not body.strip():
                return {}
            return decode(load_json_object(body))

        return parse

    return build_plan(op, body_for)


def _document(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Malformed(f"Could not parse the request body as JSON: {exc}", structural=True) from None
