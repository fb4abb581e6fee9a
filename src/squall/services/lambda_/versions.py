"""PublishVersion, ListVersionsByFunction, UpdateFunctionCode, UpdateFunctionConfiguration."""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
from typing import Any

import orjson

from squall.services.base import RequestContext
from squall.services.lambda_.code import measure
from squall.services.lambda_.functions import (
    NS,
    FunctionRecord,
    VersionRecord,
    conflict,
    fn_key,
    mark_pending,
    new_revision,
    now_text,
    precondition_failed,
    read_function,
    read_version,
    ver_key,
    versions,
)
from squall.services.lambda_.names import LATEST, FunctionRef, function_arn
from squall.services.lambda_.settings import apply_settings, check_combined_size, resolve_layers
from squall.services.lambda_.shared import Shared, ref_of
from squall.services.lambda_.validation import check_config, invalid
from squall.services.operations import operation

#: Members that do not make two configurations different for PublishVersion.
VOLATILE = frozenset(
    {
        "LastModified",
        "RevisionId",
        "State",
        "StateReason",
        "StateReasonCode",
        "LastUpdateStatus",
        "LastUpdateStatusReason",
        "LastUpdateStatusReasonCode",
        "Version",
        "FunctionArn",
        "Description",
    }
)


def fingerprint(config: dict[str, Any]) -> str:
    stable = {k: v for k, v in config.items() if k not in VOLATILE}
    return hashlib.sha256(orjson.dumps(stable, option=orjson.OPT_SORT_KEYS)).hexdigest()


def publish(
    d: Shared,
    ref: FunctionRef,
    code_sha: str | None,
    revision_id: str | None,
    *,
    description: str | None = None,
    allow_latest: bool = False,
) -> dict[str, Any]:
    a, r, name = ref.account_id, ref.region, ref.name
    with d.store.write() as w:
        fn = read_function(w, FunctionRef(a, r, name))
        latest = fn.config
        if revision_id and revision_id != latest["RevisionId"]:
            raise precondition_failed()
        if code_sha and code_sha != latest["CodeSha256"]:
            raise invalid(
                f"CodeSHA256 ({code_sha}) is different from current CodeSHA256 in $LATEST "
                f"({latest['CodeSha256']}). Please try again with the CodeSHA256 in $LATEST."
            )
        fp = fingerprint(latest)
        if fn.published and fn.published[0] == fp:
            existing = read_version(w, ref, int(fn.published[1]))
            if existing is not None:
                return existing.config
        number = fn.last_version + 1
        config = copy.deepcopy(latest)
        config.update(
            {
                "Version": str(number),
                "FunctionArn": function_arn(a, r, name, str(number)),
                "RevisionId": new_revision(),
                "LastModified": now_text(),
                "Description": latest.get("Description", "") if description is None else description,
                "State": "Pending",
                "StateReason": "The function is being created.",
                "StateReasonCode": "Creating",
            }
        )
        for k in ("LastUpdateStatus", "LastUpdateStatusReason", "LastUpdateStatusReasonCode"):
            config.pop(k, None)
        fn.last_version = number
        fn.published = [fp, str(number)]
        w.put(NS, ver_key(a, r, name, number), VersionRecord(config, fn.code).dump())
        w.put(NS, fn_key(a, r, name), fn.dump())
        mark_pending(w, ref, str(number))
    d.lifecycle.kick()
    return config


def _check_updatable(fn: FunctionRecord, revision_id: str | None) -> None:
    if revision_id and revision_id != fn.config["RevisionId"]:
        raise precondition_failed()
    state = fn.config.get("State")
    if state == "Pending" or fn.config.get("LastUpdateStatus") == "InProgress":
        raise conflict(
            f"The operation cannot be performed at this time. An update is in progress for resource: "
            f"{fn.config['FunctionArn']}"
        )


def _in_progress(config: dict[str, Any]) -> None:
    config["LastModified"] = now_text()
    config["RevisionId"] = new_revision()
    config["LastUpdateStatus"] = "InProgress"
    config["LastUpdateStatusReason"] = "The function is being created."
    config["LastUpdateStatusReasonCode"] = "Creating"


class VersionsApi:
    def __init__(self, shared: Shared) -> None:
        self.shared = shared

    @operation("PublishVersion")
    def publish_version(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ref = ref_of(ctx, params)
        if ref.qualifier:
            raise invalid(f"Invalid function name or ARN: {params['FunctionName']}")
        return publish(
            self.shared,
            ref,
            params.get("CodeSha256"),
            params.get("RevisionId"),
            description=params.get("Description"),
        )

    @operation("ListVersionsByFunction")
    def list_versions_by_function(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ref = ref_of(ctx, params)
        limit = int(params.get("MaxItems") or 50)
        start = int(params.get("Marker") or 0) if str(params.get("Marker") or "0").isdigit() else 0
        with self.shared.store.read() as r:
            fn = read_function(r, ref)
            # $LATEST is listed with its qualified ARN (`...:function:NAME:$LATEST`), as AWS lists it
            latest = {**fn.config, "FunctionArn": function_arn(ref.account_id, ref.region, ref.name, LATEST)}
            configs = [latest] + [v.config for v in versions(r, ref)]
        positions = [0] + [int(c["Version"]) for c in configs[1:]]
        page = [(p, c) for p, c in zip(positions, configs, strict=True) if p >= start][: limit + 1]
        out: dict[str, Any] = {"Versions": [c for _, c in page[:limit]]}
        if len(page) > limit:
            out["NextMarker"] = str(page[limit][0])
        return out

    @operation("UpdateFunctionCode")
    async def update_function_code(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        from squall.services.lambda_.api_functions import stored_package, zip_from

        ref = ref_of(ctx, params)
        if ref.qualifier:
            raise invalid(f"Invalid function name or ARN: {params['FunctionName']}")
        data = await asyncio.to_thread(zip_from, params, self.shared.objects, ctx.principal, ref.region)
        archs = params.get("Architectures")
        if archs is not None and len(archs) != 1:
            raise invalid("Only one architecture may be specified.")
        with self.shared.store.read() as r:
            fn = read_function(r, ref)
        if params.get("DryRun"):
            unzipped = await asyncio.to_thread(measure, data)
            check_combined_size(unzipped, _layer_arns(fn.config), self.shared.layers, ref)
            sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
            return {**fn.config, "CodeSha256": sha, "CodeSize": len(data)}
        code = await stored_package(self.shared, ref, data)
        check_combined_size(code.unzipped, _layer_arns(fn.config), self.shared.layers, ref)
        with self.shared.store.write() as w:
            fn = read_function(w, ref)
            _check_updatable(fn, params.get("RevisionId"))
            replaced = fn.code.blob_id
            fn.code = code
            fn.config["CodeSha256"] = code.sha256
            fn.config["CodeSize"] = code.size
            if archs:
                fn.config["Architectures"] = archs
            _in_progress(fn.config)
            w.put(NS, fn_key(ref.account_id, ref.region, ref.name), fn.dump())
            mark_pending(w, ref, LATEST)
        if replaced != code.blob_id:
            self.shared.codes.release(ref.account_id, ref.region, {replaced})
        self.shared.lifecycle.kick()
        if params.get("Publish"):
            return publish(self.shared, ref, None, None)
        return fn.config

    @operation("UpdateFunctionConfiguration")
    def update_function_configuration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ref = ref_of(ctx, params)
        if ref.qualifier:
            raise invalid(f"Invalid function name or ARN: {params['FunctionName']}")
        check_config(params, creating=False)
        with self.shared.store.read() as r:
            read_function(r, ref)
        layers = resolve_layers(params, self.shared.layers, ref)
        if "Layers" in params:
            with self.shared.store.read() as r:
                code = read_function(r, ref).code
            check_combined_size(code.unzipped, list(params.get("Layers") or []), self.shared.layers, ref)
        with self.shared.store.write() as w:
            fn = read_function(w, ref)
            _check_updatable(fn, params.get("RevisionId"))
            apply_settings(fn.config, params, layers, ref)
            _in_progress(fn.config)
            w.put(NS, fn_key(ref.account_id, ref.region, ref.name), fn.dump())
            mark_pending(w, ref, LATEST)
        self.shared.lifecycle.kick()
        return fn.config


def _layer_arns(config: dict[str, Any]) -> list[str]:
    return [str(layer["Arn"]) for layer in config.get("Layers") or []]
