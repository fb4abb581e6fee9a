"""CreateAlias, GetAlias, UpdateAlias, DeleteAlias, ListAliases, with weighted routing.

An alias points at one version and optionally one more with a weight
(`RoutingConfig.AdditionalVersionWeights`): blue/green is repointing
`FunctionVersion`, canary is a weight on the new version, rollback is
repointing back and clearing the weights.
"""

from __future__ import annotations

from typing import Any

import orjson

from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext
from squall.services.lambda_.functions import (
    NS,
    PC_NS,
    alias_key,
    aliases,
    conflict,
    new_revision,
    precondition_failed,
    read_alias,
    read_function,
    read_version,
)
from squall.services.lambda_.names import LATEST, FunctionRef, function_arn, function_not_found
from squall.services.lambda_.shared import Shared, ref_of
from squall.services.lambda_.validation import invalid
from squall.services.operations import operation
from squall.storage import ReadTxn, pack


def alias_not_found(ref: FunctionRef, name: str) -> ServiceError:
    arn = function_arn(ref.account_id, ref.region, ref.name, name)
    return ServiceError(
        "ResourceNotFoundException", f"Cannot find alias arn: {arn}", 404, fields={"Type": "User"}
    )


def _check_version(r: ReadTxn, ref: FunctionRef, version: str) -> None:
    if version == LATEST:
        return
    if not version.isdigit() or read_version(r, ref, int(version)) is None:
        raise function_not_found(FunctionRef(ref.account_id, ref.region, ref.name, version))


def _check_routing(
    r: ReadTxn, ref: FunctionRef, primary: str, routing: dict[str, Any] | None
) -> dict[str, float]:
    weights = dict((routing or {}).get("AdditionalVersionWeights") or {})
    if not weights:
        return {}
    if len(weights) > 1:
        raise invalid("Number of items in AdditionalVersionWeights cannot be greater than 1")
    ((version, weight),) = weights.items()
    if not 0.0 <= float(weight) <= 1.0:
        raise invalid(f"Invalid weight {weight} for version {version}: weights must be between 0.0 and 1.0")
    if version == LATEST or primary == LATEST:
        raise invalid("$LATEST is not supported for an alias pointing to more than 1 version")
    if version == primary:
        raise invalid(
            f"Invalid function version {version}. Function version {version} is already included in routing "
            f"configuration."
        )
    _check_version(r, ref, version)
    return {version: float(weight)}


def _out(alias: dict[str, Any]) -> dict[str, Any]:
    return alias


class AliasesApi:
    def __init__(self, shared: Shared) -> None:
        self.shared = shared

    @operation("CreateAlias")
    def create_alias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ref = ref_of(ctx, params)
        name = params["Name"]
        version = params["FunctionVersion"]
        a, rg = ref.account_id, ref.region
        with self.shared.store.write() as w:
            read_function(w, ref)
            _check_version(w, ref, version)
            weights = _check_routing(w, ref, version, params.get("RoutingConfig"))
            key = alias_key(a, rg, ref.name, name)
            arn = function_arn(a, rg, ref.name, name)
            if w.get(NS, key) is not None:
                raise conflict(f"Alias already exists: {arn}")
            alias: dict[str, Any] = {
                "AliasArn": arn,
                "Name": name,
                "FunctionVersion": version,
                "Description": params.get("Description", ""),
                "RevisionId": new_revision(),
            }
            if weights:
                alias["RoutingConfig"] = {"AdditionalVersionWeights": weights}
            w.put(NS, key, orjson.dumps(alias))
        return _out(alias)

    @operation("GetAlias")
    def get_alias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ref = ref_of(ctx, params)
        with self.shared.store.read() as r:
            read_function(r, ref)
            alias = read_alias(r, ref, params["Name"])
        if alias is None:
            raise alias_not_found(ref, params["Name"])
        return _out(alias)

    @operation("UpdateAlias")
    def update_alias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ref = ref_of(ctx, params)
        name = params["Name"]
        with self.shared.store.write() as w:
            read_function(w, ref)
            alias = read_alias(w, ref, name)
            if alias is None:
                raise alias_not_found(ref, name)
            if params.get("RevisionId") and params["RevisionId"] != alias["RevisionId"]:
                raise precondition_failed()
            version = params.get("FunctionVersion", alias["FunctionVersion"])
            _check_version(w, ref, version)
            routing = params["RoutingConfig"] if "RoutingConfig" in params else alias.get("RoutingConfig")
            weights = _check_routing(w, ref, version, routing)
            alias["FunctionVersion"] = version
            if "Description" in params:
                alias["Description"] = params["Description"]
            if weights:
                alias["RoutingConfig"] = {"AdditionalVersionWeights": weights}
            else:
                alias.pop("RoutingConfig", None)
            alias["RevisionId"] = new_revision()
            w.put(NS, alias_key(ref.account_id, ref.region, ref.name, name), orjson.dumps(alias))
        return _out(alias)

    @operation("DeleteAlias")
    def delete_alias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ref = ref_of(ctx, params)
        name = params["Name"]
        with self.shared.store.write() as w:
            read_function(w, ref)
            w.delete(NS, alias_key(ref.account_id, ref.region, ref.name, name))
            w.delete(PC_NS, pack(ref.account_id, ref.region, ref.name, name))
        # the alias's resource policy and event invoke config go with it
        self.shared.directory.deleted(FunctionRef(ref.account_id, ref.region, ref.name, name))
        return {}

    @operation("ListAliases")
    def list_aliases(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ref = ref_of(ctx, params)
        version = params.get("FunctionVersion")
        limit = int(params.get("MaxItems") or 50)
        marker = params.get("Marker")
        with self.shared.store.read() as r:
            read_function(r, ref)
            found = [a for a in aliases(r, ref) if version is None or a["FunctionVersion"] == version]
        if marker:
            found = [a for a in found if a["Name"] > marker]
        out: dict[str, Any] = {"Aliases": found[:limit]}
        if len(found) > limit:
            out["NextMarker"] = found[limit - 1]["Name"]
        return out
