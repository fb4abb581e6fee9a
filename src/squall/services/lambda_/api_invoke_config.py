"""Put/Get/Update/Delete/ListFunctionEventInvokeConfig(s)."""

from __future__ import annotations

from typing import Any

from squall.services.base import RequestContext
from squall.services.lambda_.invoke_config import InvokeConfigStore
from squall.services.lambda_.names import FunctionRef, parse_function
from squall.services.operations import operation


class InvokeConfigApi:
    def __init__(self, configs: InvokeConfigStore) -> None:
        self.configs = configs

    @staticmethod
    def _ref(ctx: RequestContext, params: dict[str, Any]) -> FunctionRef:
        return parse_function(
            params["FunctionName"],
            account_id=ctx.account_id,
            region=ctx.region,
            qualifier=params.get("Qualifier"),
        )

    @operation("PutFunctionEventInvokeConfig")
    def put_function_event_invoke_config(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self.configs.put(self._ref(ctx, params), params, merge=False).to_api()

    @operation("UpdateFunctionEventInvokeConfig")
    def update_function_event_invoke_config(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        return self.configs.put(self._ref(ctx, params), params, merge=True).to_api()

    @operation("GetFunctionEventInvokeConfig")
    def get_function_event_invoke_config(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self.configs.get(self._ref(ctx, params)).to_api()

    @operation("DeleteFunctionEventInvokeConfig")
    def delete_function_event_invoke_config(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        self.configs.delete(self._ref(ctx, params))
        return {}

    @operation("ListFunctionEventInvokeConfigs")
    def list_function_event_invoke_configs(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        ref = self._ref(ctx, params)
        items, marker = self.configs.list(ref, params.get("Marker"), params.get("MaxItems"))
        out: dict[str, Any] = {"FunctionEventInvokeConfigs": [c.to_api() for c in items]}
        if marker:
            out["NextMarker"] = marker
        return out
