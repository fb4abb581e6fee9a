"""CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions, DeleteFunction,
GetFunctionCodeSigningConfig."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from squall.services.base import RequestContext
from squall.services.context import Principal
from squall.services.lambda_.code import CodeRef, check_upload_size, measure
from squall.services.lambda_.code_source import from_s3
from squall.services.lambda_.functions import (
    NS,
    PC_NS,
    PENDING_NS,
    FunctionRecord,
    alias_key,
    aliases,
    config_of,
    conflict,
    fn_key,
    is_version_number,
    mark_pending,
    new_revision,
    now_text,
    read_function,
    read_version,
    unqualified,
    ver_key,
    versions,
)
from squall.services.lambda_.names import LATEST, FunctionRef, function_arn, function_not_found
from squall.services.lambda_.settings import apply_settings, check_combined_size, resolve_layers
from squall.services.lambda_.shared import Shared, check_grant, ref_of
from squall.services.lambda_.validation import check_config, invalid
from squall.services.operations import operation
from squall.services.ports import ObjectReader
from squall.storage import pack


def zip_from(
    code: dict[str, Any],
    objects: ObjectReader | None = None,
    principal: Principal | None = None,
    region: str = "",
) -> bytes:
    """The package bytes of `Code` (ZipFile, or S3Bucket/S3Key/S3ObjectVersion read via `objects`)."""
    if code.get("ImageUri"):
        raise invalid(
            "Squall supports only .zip deployment packages (ZipFile); container images are not supported."
        )
    if code.get("S3Bucket") or code.get("S3Key") or code.get("S3ObjectVersion"):
        if code.get("ZipFile") is not None:
            raise invalid("Please do not provide other FunctionCode parameters when providing a ZipFile.")
        if principal is None:
            raise invalid("S3Bucket/S3Key cannot be used here.")
        return from_s3(objects, principal, region, code)
    data = code.get("ZipFile")
    if data is None:
        raise invalid("Please provide a source for function code.")
    if isinstance(data, str):
        data = base64.b64decode(data)
    data = bytes(data)
    check_upload_size(data)
    return data


async def stored_package(shared: Shared, ref: FunctionRef, data: bytes) -> CodeRef:
    """`data` measured (inflated, counted, refused past AWS's limit) and stored, in a thread:
    a big or many-file zip must not stall the event loop."""
    unzipped = await asyncio.to_thread(measure, data)
    return await asyncio.to_thread(shared.codes.put, ref.account_id, ref.region, data, unzipped)


class FunctionsApi:
    def __init__(self, shared: Shared) -> None:
        self.shared = shared

    @operation("CreateFunction")
    async def create_function(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ref = ref_of(ctx, params)
        if ref.qualifier:
            raise invalid(f"Invalid function name or ARN: {params['FunctionName']}")
        check_config(params, creating=True)
        if self.shared.directory.exists(ref):
            raise conflict(f"Function already exist: {ref.name}")
        data = await asyncio.to_thread(
            zip_from, params.get("Code") or {}, self.shared.objects, ctx.principal, ref.region
        )
        code = await stored_package(self.shared, ref, data)
        check_combined_size(code.unzipped, list(params.get("Layers") or []), self.shared.layers, ref)
        config: dict[str, Any] = {
            "FunctionName": ref.name,
            "FunctionArn": ref.arn,
            "Runtime": params["Runtime"],
            "Role": params["Role"],
            "Handler": params["Handler"],
            "CodeSize": code.size,
            "Description": params.get("Description", ""),
            "Timeout": 3,
            "MemorySize": 128,
            "LastModified": now_text(),
            "CodeSha256": code.sha256,
            "Version": LATEST,
            "TracingConfig": {"Mode": "PassThrough"},
            "RevisionId": new_revision(),
            "State": "Pending",
            "StateReason": "The function is being created.",
            "StateReasonCode": "Creating",
            "PackageType": "Zip",
            "Architectures": params.get("Architectures") or ["x86_64"],
            "EphemeralStorage": {"Size": 512},
            "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
            "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{ref.name}"},
        }
        apply_settings(config, params, resolve_layers(params, self.shared.layers, ref), ref)
        record = FunctionRecord(config, code, dict(params.get("Tags") or {}))
        with self.shared.store.write() as w:
            if w.get(NS, fn_key(ref.account_id, ref.region, ref.name)) is not None:
                raise conflict(f"Function already exist: {ref.name}")
            w.put(NS, fn_key(ref.account_id, ref.region, ref.name), record.dump())
            mark_pending(w, ref, LATEST)
        self.shared.lifecycle.kick()
        if params.get("Publish"):
            from squall.services.lambda_.versions import publish

            return publish(self.shared, ref, None, None, description=config["Description"], allow_latest=True)
        return config

    @operation("GetFunctionConfiguration")
    def get_function_configuration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ref = ref_of(ctx, params, any_account=True)
        check_grant(self.shared, ctx, ref, "lambda:GetFunctionConfiguration")
        with self.shared.store.read() as r:
            config, _ = config_of(r, ref)
        return as_qualified(config, ref)

    @operation("GetFunction")
    def get_function(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ref = ref_of(ctx, params, any_account=True)
        check_grant(self.shared, ctx, ref, "lambda:GetFunction")
        with self.shared.store.read() as r:
            config, code = config_of(r, ref)
            fn = read_function(r, ref)
        out: dict[str, Any] = {
            "Configuration": as_qualified(config, ref),
            "Code": {"RepositoryType": "S3", "Location": self.shared.codes.presigned_url(ctx.endpoint, code)},
        }
        if ref.qualifier is None and fn.tags:
            out["Tags"] = fn.tags
        if fn.reserved is not None:
            out["Concurrency"] = {"ReservedConcurrentExecutions": fn.reserved}
        return out

    @operation("GetFunctionCodeSigningConfig")
    def get_function_code_signing_config(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """Squall has no code signing configs, so none is attached: AWS answers an empty
        `CodeSigningConfigArn` and the function's name for such a function."""
        ref = ref_of(ctx, params, any_account=True)
        check_grant(self.shared, ctx, ref, "lambda:GetFunctionCodeSigningConfig")
        with self.shared.store.read() as r:
            read_function(r, ref)
        return {"CodeSigningConfigArn": "", "FunctionName": ref.name}

    @operation("ListFunctions")
    def list_functions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        all_versions = params.get("FunctionVersion") == "ALL"
        limit = int(params.get("MaxItems") or 50)
        if not 1 <= limit <= 10000:
            raise invalid("1 validation error detected: Value at 'maxItems' failed to satisfy constraint")
        marker = params.get("Marker")
        start = pack(ctx.account_id, ctx.region, "fn")
        after: tuple[str, int] | None = None
        if marker:
            try:
                name, _, num = base64.urlsafe_b64decode(marker.encode()).decode().partition("\0")
                after = (name, int(num))
            except (ValueError, UnicodeDecodeError):
                raise invalid("Invalid Marker.") from None
        items: list[tuple[tuple[str, int], dict[str, Any]]] = []
        next_marker = None
        with self.shared.store.read() as r:
            for _, raw in r.scan(
                NS, prefix=start, start=fn_key(ctx.account_id, ctx.region, after[0]) if after else None
            ):
                fn = FunctionRecord.load(raw)
                name = fn.config["FunctionName"]
                entries = [((name, 0), fn.config)]
                if all_versions:
                    fref = FunctionRef(ctx.account_id, ctx.region, name)
                    entries += [((name, int(v.config["Version"])), v.config) for v in versions(r, fref)]
                for pos, config in entries:
                    if after is not None and pos <= after:
                        continue
                    if len(items) == limit:
                        next_marker = base64.urlsafe_b64encode(
                            f"{items[-1][0][0]}\0{items[-1][0][1]}".encode()
                        ).decode()
                        break
                    items.append((pos, config))
                if next_marker:
                    break
        out: dict[str, Any] = {"Functions": [c for _, c in items]}
        if next_marker:
            out["NextMarker"] = next_marker
        return out

    @operation("DeleteFunction")
    def delete_function(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ref = ref_of(ctx, params)
        q = ref.qualifier
        a, rg, name = ref.account_id, ref.region, ref.name
        if q == LATEST:
            raise invalid("$LATEST version cannot be deleted without deleting the function.")
        if q is not None and not q.isdigit():
            raise invalid("Deletion of aliases is not currently supported.")
        with self.shared.store.write() as w:
            fn = read_function(w, ref)
            dropped = {fn.code.blob_id} | {v.code.blob_id for v in versions(w, ref)}
            if q is None:
                w.delete(NS, fn_key(a, rg, name))
                w.delete_range(NS, prefix=pack(a, rg, "ver", name))
                for alias in list(aliases(w, ref)):
                    w.delete(NS, alias_key(a, rg, name, alias["Name"]))
                for k, _ in list(w.scan(PENDING_NS, prefix=pack(a, rg, name))):
                    w.delete(PENDING_NS, k)
                w.delete_range(PC_NS, prefix=pack(a, rg, name))
            else:
                version = read_version(w, ref, int(q))
                if version is None:
                    raise function_not_found(ref)
                dropped = {version.code.blob_id}
                users = [al["Name"] for al in aliases(w, ref) if _alias_uses(al, q)]
                if users:
                    raise conflict(
                        f"Unable to delete version because the following aliases reference it: {users}"
                    )
                w.delete(NS, ver_key(a, rg, name, int(q)))
                w.delete(PENDING_NS, pack(a, rg, name, q))
                w.delete(PC_NS, pack(a, rg, name, q))
        self.shared.codes.release(a, rg, dropped)
        self.shared.directory.deleted(ref if q else unqualified(ref))
        # AWS answers 204 (API reference, DeleteFunction: "HTTP/1.1 204"); the model leaves the code
        # to the output's statusCode member
        return {"StatusCode": 204}


def as_qualified(config: dict[str, Any], ref: FunctionRef) -> dict[str, Any]:
    """The configuration as AWS shows it through an alias: `FunctionArn` qualified by the alias
    (`Version` stays the version the alias points to)."""
    q = ref.qualifier
    if q is None or q == LATEST or is_version_number(q):
        return config
    return {**config, "FunctionArn": function_arn(ref.account_id, ref.region, ref.name, q)}


def _alias_uses(alias: dict[str, Any], version: str) -> bool:
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return alias["FunctionVersion"] == version or version in weights
