"""PublishLayerVersion, GetLayerVersion(ByArn), ListLayers, ListLayerVersions, DeleteLayerVersion."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from squall.services.base import RequestContext
from squall.services.lambda_.attachment_util import page
from squall.services.lambda_.layers import LayerStore, version_output
from squall.services.operations import operation

#: (endpoint, blob id) -> a signed download URL for the zip.
UrlSigner = Callable[[str, str], str]


class LayersApi:
    def __init__(self, layers: LayerStore, sign_url: UrlSigner | None = None) -> None:
        self.layers = layers
        self._sign_url = sign_url

    def _content(self, ctx: RequestContext, rec: dict[str, Any]) -> dict[str, Any]:
        sign = self._sign_url
        location = (lambda blob_id: sign(ctx.endpoint, blob_id)) if sign is not None else None
        return version_output(rec, with_content=True, location=location)

    @operation("PublishLayerVersion")
    async def publish_layer_version(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        rec = await self.layers.publish(ctx.principal, ctx.region, params["LayerName"], params)
        return self._content(ctx, rec)

    @operation("GetLayerVersion")
    def get_layer_version(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        rec = self.layers.get(ctx.account_id, ctx.region, params["LayerName"], params["VersionNumber"])
        return self._content(ctx, rec)

    @operation("GetLayerVersionByArn")
    def get_layer_version_by_arn(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._content(ctx, self.layers.get_by_arn(ctx.account_id, params["Arn"]))

    @operation("ListLayerVersions")
    def list_layer_versions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        recs = self.layers.versions(
            ctx.account_id,
            ctx.region,
            params["LayerName"],
            params.get("CompatibleRuntime"),
            params.get("CompatibleArchitecture"),
        )
        items, marker = page(recs, params.get("Marker"), params.get("MaxItems"))
        out: dict[str, Any] = {"LayerVersions": [version_output(r, with_content=False) for r in items]}
        if marker:
            out["NextMarker"] = marker
        return out

    @operation("ListLayers")
    def list_layers(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        recs = self.layers.layers(
            ctx.account_id, ctx.region, params.get("CompatibleRuntime"), params.get("CompatibleArchitecture")
        )
        items, marker = page(recs, params.get("Marker"), params.get("MaxItems"))
        out: dict[str, Any] = {
            "Layers": [
                {
                    "LayerName": r["LayerArn"].rsplit(":", 1)[1],
                    "LayerArn": r["LayerArn"],
                    "LatestMatchingVersion": version_output(r, with_content=False),
                }
                for r in items
            ]
        }
        if marker:
            out["NextMarker"] = marker
        return out

    @operation("DeleteLayerVersion")
    def delete_layer_version(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.layers.delete(ctx.account_id, ctx.region, params["LayerName"], params["VersionNumber"])
        return {}

    @operation("AddLayerVersionPermission")
    def add_layer_version_permission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        statement, revision = self.layers.add_permission(
            ctx.account_id, ctx.region, params["LayerName"], params["VersionNumber"], params
        )
        return {"Statement": orjson.dumps(statement).decode(), "RevisionId": revision}

    @operation("RemoveLayerVersionPermission")
    def remove_layer_version_permission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.layers.remove_permission(
            ctx.account_id,
            ctx.region,
            params["LayerName"],
            params["VersionNumber"],
            params["StatementId"],
            params.get("RevisionId"),
        )
        return {}

    @operation("GetLayerVersionPolicy")
    def get_layer_version_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc, revision = self.layers.policy(
            ctx.account_id, ctx.region, params["LayerName"], params["VersionNumber"]
        )
        return {"Policy": orjson.dumps(doc).decode(), "RevisionId": revision}
