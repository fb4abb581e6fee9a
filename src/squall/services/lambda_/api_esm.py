"""Create/Get/Update/Delete/ListEventSourceMapping(s)."""

from __future__ import annotations

from typing import Any

from squall.services.base import RequestContext
from squall.services.lambda_.esm import EventSourceMappings
from squall.services.operations import operation


class EsmApi:
    def __init__(self, mappings: EventSourceMappings) -> None:
        self.mappings = mappings

    @operation("CreateEventSourceMapping")
    def create_event_source_mapping(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self.mappings.create(ctx.account_id, ctx.region, params)

    @operation("GetEventSourceMapping")
    def get_event_source_mapping(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self.mappings.get(ctx.account_id, ctx.region, params["UUID"])

    @operation("UpdateEventSourceMapping")
    def update_event_source_mapping(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self.mappings.update(ctx.account_id, ctx.region, params)

    @operation("DeleteEventSourceMapping")
    def delete_event_source_mapping(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self.mappings.delete(ctx.account_id, ctx.region, params["UUID"])

    @operation("ListEventSourceMappings")
    def list_event_source_mappings(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        items, marker = self.mappings.list_mappings(
            ctx.account_id,
            ctx.region,
            params.get("EventSourceArn"),
            params.get("FunctionName"),
            params.get("Marker"),
            params.get("MaxItems"),
        )
        out: dict[str, Any] = {"EventSourceMappings": items}
        if marker:
            out["NextMarker"] = marker
        return out
