"""Reserved and provisioned concurrency, and GetAccountSettings.

The account limit is the engine limiter's (AWS's default: 1000 concurrent
executions per region), of which at least 100 stay unreserved. Reserved
concurrency lives in the function record and, for the invoke path, in the
limiter (`load_reserved` at start, updated by Put/Delete here), so an invoke
reads no extra record. Provisioned configs go IN_PROGRESS -> READY / FAILED
as `provisioned.Provisioner` warms their environments.
"""

from __future__ import annotations

from typing import Any

import orjson

from squall.engine.concurrency import Limiter
from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext
from squall.services.lambda_.functions import (
    NS,
    PC_NS,
    FunctionRecord,
    VersionRecord,
    fn_key,
    now_text,
    read_alias,
    read_function,
    read_version,
)
from squall.services.lambda_.names import LATEST, FunctionRef, function_not_found
from squall.services.lambda_.provisioned import Provisioner
from squall.services.lambda_.shared import Shared, ref_of
from squall.services.lambda_.validation import invalid
from squall.services.operations import operation
from squall.storage import ReadTxn, Store, pack, unpack

MIN_UNRESERVED = 100
TOTAL_CODE_SIZE = 80530636800
CODE_SIZE_UNZIPPED = 262144000
CODE_SIZE_ZIPPED = 52428800


def reserved_total(r: ReadTxn, account: str, region: str, *, excluding: str | None = None) -> int:
    total = 0
    for _, raw in r.scan(NS, prefix=pack(account, region, "fn")):
        fn = FunctionRecord.load(raw)
        if fn.reserved is not None and fn.config["FunctionName"] != excluding:
            total += fn.reserved
    return total


def load_reserved(store: Store, limiter: Limiter) -> None:
    """Tell the limiter every function's reserved concurrency (at start)."""
    with store.read() as r:
        for key, raw in r.scan(NS):
            parts = unpack(key)
            if len(parts) == 4 and parts[2] == "fn":
                fn = FunctionRecord.load(raw)
                if fn.reserved is not None:
                    limiter.set_reserved(str(parts[0]), str(parts[1]), str(parts[3]), fn.reserved)


def pc_not_found() -> ServiceError:
    return ServiceError(
        "ProvisionedConcurrencyConfigNotFoundException",
        "No Provisioned Concurrency Config found for this function",
        404,
        fields={"Type": "User"},
    )


class ConcurrencyApi:
    def __init__(self, shared: Shared, limiter: Limiter, provisioner: Provisioner | None = None) -> None:
        self.shared = shared
        self.limiter = limiter
        self.provisioner = provisioner

    @property
    def account_limit(self) -> int:
        return self.limiter.account_limit

    @property
    def min_unreserved(self) -> int:
        return min(MIN_UNRESERVED, self.limiter.account_limit)

    # -- reserved ---------------------------------------------------------------------------

    @operation("PutFunctionConcurrency")
    def put_function_concurrency(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ref = ref_of(ctx, params)
        if ref.qualifier:
            raise invalid("Concurrency can only be set on the function, not on a version or alias.")
        wanted = int(params["ReservedConcurrentExecutions"])
        with self.shared.store.write() as w:
            fn = read_function(w, ref)
            others = reserved_total(w, ref.account_id, ref.region, excluding=ref.name)
            if self.account_limit - others - wanted < self.min_unreserved:
                raise invalid(
                    "Specified ReservedConcurrentExecutions for function decreases account's "
                    f"UnreservedConcurrentExecution below its minimum value of [{self.min_unreserved}]."
                )
            fn.reserved = wanted
            w.put(NS, fn_key(ref.account_id, ref.region, ref.name), fn.dump())
        self.limiter.set_reserved(ref.account_id, ref.region, ref.name, wanted)
        return {"ReservedConcurrentExecutions": wanted}

    @operation("GetFunctionConcurrency")
    def get_function_concurrency(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ref = ref_of(ctx, params)
        with self.shared.store.read() as r:
            fn = read_function(r, ref)
        return {} if fn.reserved is None else {"ReservedConcurrentExecutions": fn.reserved}

    @operation("DeleteFunctionConcurrency")
    def delete_function_concurrency(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ref = ref_of(ctx, params)
        with self.shared.store.write() as w:
            fn = read_function(w, ref)
            fn.reserved = None
            w.put(NS, fn_key(ref.account_id, ref.region, ref.name), fn.dump())
        self.limiter.set_reserved(ref.account_id, ref.region, ref.name, None)
        return {}

    # -- provisioned ------------------------------------------------------------------------

    def _qualified(self, ctx: RequestContext, params: dict[str, Any], r: ReadTxn) -> FunctionRef:
        ref = ref_of(ctx, params)
        read_function(r, ref)
        q = ref.qualifier
        if q is None or q == LATEST:
            raise invalid(
                "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
            )
        exists = (
            read_version(r, ref, int(q)) is not None if q.isdigit() else read_alias(r, ref, q) is not None
        )
        if not exists:
            raise function_not_found(ref)
        return ref

    @operation("PutProvisionedConcurrencyConfig")
    def put_provisioned_concurrency_config(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        wanted = int(params["ProvisionedConcurrentExecutions"])
        with self.shared.store.write() as w:
            ref = self._qualified(ctx, params, w)
            fn = read_function(w, ref)
            if fn.reserved is not None and wanted > fn.reserved:
                raise invalid(
                    "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution "
                    "for function"
                )
            if wanted > self.account_limit - self.min_unreserved:
                raise invalid(
                    "Specified ConcurrentExecutions for function is greater than account's unreserved concurrency "
                    f"[{self.account_limit - self.min_unreserved}]."
                )
            config = {
                "RequestedProvisionedConcurrentExecutions": wanted,
                "AvailableProvisionedConcurrentExecutions": 0,
                "AllocatedProvisionedConcurrentExecutions": 0,
                "Status": "IN_PROGRESS",
                "LastModified": now_text(),
            }
            w.put(PC_NS, pack(ref.account_id, ref.region, ref.name, ref.qualifier), orjson.dumps(config))
        if self.provisioner is not None and ref.qualifier is not None:
            self.provisioner.apply(ref.account_id, ref.region, ref.name, ref.qualifier)
        return config

    @operation("GetProvisionedConcurrencyConfig")
    def get_provisioned_concurrency_config(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        with self.shared.store.read() as r:
            ref = self._qualified(ctx, params, r)
            raw = r.get(PC_NS, pack(ref.account_id, ref.region, ref.name, ref.qualifier))
        if raw is None:
            raise pc_not_found()
        return dict(orjson.loads(raw))

    @operation("DeleteProvisionedConcurrencyConfig")
    def delete_provisioned_concurrency_config(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        with self.shared.store.write() as w:
            ref = self._qualified(ctx, params, w)
            if not w.delete(PC_NS, pack(ref.account_id, ref.region, ref.name, ref.qualifier)):
                raise pc_not_found()
        if self.provisioner is not None and ref.qualifier is not None:
            self.provisioner.release(ref.account_id, ref.region, ref.name, ref.qualifier)
        return {}

    @operation("ListProvisionedConcurrencyConfigs")
    def list_provisioned_concurrency_configs(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        ref = ref_of(ctx, params)
        limit = int(params.get("MaxItems") or 50)
        start = int(params.get("Marker") or 0) if str(params.get("Marker") or "0").isdigit() else 0
        with self.shared.store.read() as r:
            read_function(r, ref)
            found = []
            for key, raw in r.scan(PC_NS, prefix=pack(ref.account_id, ref.region, ref.name)):
                qualifier = str(unpack(key)[3])
                found.append(
                    {
                        "FunctionArn": FunctionRef(
                            ref.account_id, ref.region, ref.name, qualifier
                        ).qualified_arn,
                        **orjson.loads(raw),
                    }
                )
        page = found[start : start + limit]
        out: dict[str, Any] = {"ProvisionedConcurrencyConfigs": page}
        if start + limit < len(found):
            out["NextMarker"] = str(start + limit)
        return out

    # -- account ----------------------------------------------------------------------------

    @operation("GetAccountSettings")
    def get_account_settings(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        a, rg = ctx.account_id, ctx.region
        count = 0
        code_size = 0
        with self.shared.store.read() as r:
            reserved = reserved_total(r, a, rg)
            for _, raw in r.scan(NS, prefix=pack(a, rg, "fn")):
                count += 1
                code_size += FunctionRecord.load(raw).code.size
            for _, raw in r.scan(NS, prefix=pack(a, rg, "ver")):
                code_size += VersionRecord.load(raw).code.size
        return {
            "AccountLimit": {
                "TotalCodeSize": TOTAL_CODE_SIZE,
                "CodeSizeUnzipped": CODE_SIZE_UNZIPPED,
                "CodeSizeZipped": CODE_SIZE_ZIPPED,
                "ConcurrentExecutions": self.account_limit,
                "UnreservedConcurrentExecutions": self.account_limit - reserved,
            },
            "AccountUsage": {"TotalCodeSize": code_size, "FunctionCount": count},
        }
