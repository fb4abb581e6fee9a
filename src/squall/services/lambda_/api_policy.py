"""AddPermission, RemovePermission, GetPolicy."""

from __future__ import annotations

from typing import Any

import orjson

from squall.services.base import RequestContext
from squall.services.lambda_.names import parse_function
from squall.services.lambda_.policy import PolicyStore
from squall.services.operations import operation


class PolicyApi:
    def __init__(self, policies: PolicyStore) -> None:
        self.policies = policies

    @operation("AddPermission")
    def add_permission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ref = parse_function(
            params["FunctionName"],
            account_id=ctx.account_id,
            region=ctx.region,
            qualifier=params.get("Qualifier"),
        )
        statement = self.policies.add(ref, params)
        return {"Statement": orjson.dumps(statement).decode()}

    @operation("RemovePermission")
    def remove_permission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ref = parse_function(
            params["FunctionName"],
            account_id=ctx.account_id,
            region=ctx.region,
            qualifier=params.get("Qualifier"),
        )
        self.policies.remove(ref, params["StatementId"], params.get("RevisionId"))
        return {}

    @operation("GetPolicy")
    def get_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ref = parse_function(
            params["FunctionName"],
            account_id=ctx.account_id,
            region=ctx.region,
            qualifier=params.get("Qualifier"),
        )
        doc, revision = self.policies.document(ref)
        return {"Policy": orjson.dumps(doc).decode(), "RevisionId": revision}
