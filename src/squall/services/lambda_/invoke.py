"""`Invoke`: run a function version in the engine's pools and answer as Lambda does.

The qualifier picks the configuration ($LATEST, a version, or an alias whose
`AdditionalVersionWeights` route each call at random by weight). Synchronous
(`RequestResponse`) calls return the function's result or its error document
with `X-Amz-Function-Error: Unhandled`; `LogType=Tail` adds the last 4 KB of
the invocation's log framed by START/END/REPORT. `DryRun` only checks access.
`Event` (async) is not implemented yet: it needs a durable queue.
Engine errors map to AWS errors in `ENGINE_ERRORS`, here on the service side.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from squall.engine.codecache import CodeCache, CodeCacheError
from squall.engine.environment import EnvironmentError_, InvocationResult
from squall.engine.pool import PoolManager, UnsupportedRuntime
from squall.engine.spec import FunctionConfig
from squall.engine.zygote import ZygoteError
from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext, not_implemented
from squall.services.lambda_.code import CodeRef
from squall.services.lambda_.deps import Deps, ref_of
from squall.services.lambda_.functions import (
    is_version_number,
    read_alias,
    read_function,
    read_version,
)
from squall.services.lambda_.layer_dirs import LayerDirs
from squall.services.lambda_.names import LATEST, FunctionRef, function_not_found

REQUEST_LIMIT = 6_291_456  # bytes, the synchronous request payload limit
LOG_TAIL_BYTES = 4096

#: Engine failure -> (AWS error code, HTTP status). Messages carry the engine's reason.
ENGINE_ERRORS: dict[type[Exception], tuple[str, int]] = {
    UnsupportedRuntime: ("InvalidRuntimeException", 502),
    CodeCacheError: ("InvalidZipFileException", 502),
    ZygoteError: ("ServiceException", 500),
    EnvironmentError_: ("ServiceException", 500),
}


def engine_error(exc: Exception) -> ServiceError:
    for kind, (code, status) in ENGINE_ERRORS.items():
        if isinstance(exc, kind):
            return ServiceError(code, str(exc), status, sender_fault=status < 500, fields={"Type": "Service"})
    raise exc


def _invalid_content(message: str) -> ServiceError:
    return ServiceError("InvalidRequestContentException", message, 400, fields={"Type": "User"})


def pick_version(alias: dict[str, Any], rng: random.Random | None = None) -> str:
    """The version an alias routes this call to: extra versions by weight, the rest to its own."""
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    roll = (rng or random).random()
    for version, weight in weights.items():
        if roll < float(weight):
            return str(version)
        roll -= float(weight)
    return str(alias["FunctionVersion"])


def log_tail(result: InvocationResult, version: str, memory_mb: int) -> bytes:
    rid = result.request_id
    billed = max(1, math.ceil(result.duration_ms))
    report = (
        f"REPORT RequestId: {rid}\tDuration: {result.duration_ms:.2f} ms\tBilled Duration: {billed} ms\t"
        f"Memory Size: {memory_mb} MB\tMax Memory Used: {result.max_memory_mb or 0} MB\t"
    )
    if result.init_ms is not None:
        report += f"Init Duration: {result.init_ms:.2f} ms\t"
    text = (
        f"START RequestId: {rid} Version: {version}\n".encode()
        + result.logs
        + f"END RequestId: {rid}\n{report}\n".encode()
    )
    return text[-LOG_TAIL_BYTES:]


class InvokeApi:
    def __init__(self, deps: Deps, pools: PoolManager, code_root: Path | None) -> None:
        self.deps = deps
        self.pools = pools
        self._code_root = code_root
        self._codes: CodeCache | None = None
        self.layer_dirs = LayerDirs(lambda: deps.layers, deps.codes.blobs.read)
        deps.directory.on_delete(self._deleted)

    @property
    def codes(self) -> CodeCache:
        """Unpacked code; without a data directory (in-process tests) a temporary one, made on first use."""
        if self._codes is None:
            root = self._code_root or Path(tempfile.mkdtemp(prefix="squall-code-"))
            self._codes = CodeCache(root)
        return self._codes

    def _deleted(self, ref: FunctionRef) -> None:
        prefix = (ref.account_id, ref.region, ref.name)
        self.pools.retire(lambda key: key[:3] == prefix)

    def _resolve(self, ref: FunctionRef) -> tuple[str, dict[str, Any], CodeRef]:
        """(executed version, configuration, code) for this call."""
        with self.deps.store.read() as r:
            fn = read_function(r, ref)
            q = ref.qualifier
            if q is not None and not is_version_number(q) and q != LATEST:
                alias = read_alias(r, ref, q)
                if alias is None:
                    raise function_not_found(ref)
                q = pick_version(alias)
            if q is None or q == LATEST:
                return LATEST, fn.config, fn.code
            ver = read_version(r, ref, int(q))
            if ver is None:
                raise function_not_found(ref)
            return q, ver.config, ver.code

    async def invoke(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ref = ref_of(ctx, params)
        payload: bytes = params.get("Payload") or b""
        if len(payload) > REQUEST_LIMIT:
            raise ServiceError(
                "RequestTooLargeException",
                f"Request must be smaller than {REQUEST_LIMIT} bytes for the InvokeFunction operation",
                413,
                fields={"Type": "User"},
            )
        version, config, code = self._resolve(ref)
        state = config.get("State")
        if state != "Active":
            raise ServiceError(
                "ResourceConflictException",
                f"The operation cannot be performed at this time. The function is currently in the following state: {state}",
                409,
                fields={"Type": "User"},
            )
        kind = params.get("InvocationType") or "RequestResponse"
        if kind == "DryRun":
            return {"StatusCode": 204}
        if kind == "Event":
            raise not_implemented("lambda", "Invoke with InvocationType Event")
        if payload.strip():
            try:
                json.loads(payload)
            except ValueError as exc:
                raise _invalid_content(f"Could not parse request body into json: {exc}") from None
        else:
            payload = b"{}"
        client_context = None
        if params.get("ClientContext"):
            try:
                client_context = json.loads(base64.b64decode(params["ClientContext"], validate=True))
            except (ValueError, binascii.Error):
                raise _invalid_content("Client context must be a valid Base64-encoded JSON object.") from None
        try:
            result = await self._run(ctx, ref, version, config, code, payload, client_context)
        except (UnsupportedRuntime, CodeCacheError, ZygoteError, EnvironmentError_) as exc:
            raise engine_error(exc) from exc
        out: dict[str, Any] = {"StatusCode": 200, "Payload": result.payload, "ExecutedVersion": version}
        if result.function_error:
            out["FunctionError"] = result.function_error
        if params.get("LogType") == "Tail":
            tail = log_tail(result, version, int(config.get("MemorySize", 128)))
            out["LogResult"] = base64.b64encode(tail).decode()
        return out

    async def _run(
        self,
        ctx: RequestContext,
        ref: FunctionRef,
        version: str,
        config: dict[str, Any],
        code: CodeRef,
        payload: bytes,
        client_context: dict[str, Any] | None,
    ) -> InvocationResult:
        sha_hex = base64.b64decode(code.sha256).hex()
        code_dir = self.codes.path(sha_hex, lambda: self.deps.codes.read(code))
        fc = FunctionConfig(
            function_name=ref.name,
            handler=str(config.get("Handler", "")),
            code_dir=code_dir,
            runtime=str(config.get("Runtime", "")),
            version=version,
            memory_mb=int(config.get("MemorySize", 128)),
            timeout_s=float(config.get("Timeout", 3)),
            region=ref.region,
            account_id=ref.account_id,
            environment=dict((config.get("Environment") or {}).get("Variables") or {}),
            endpoint_url=ctx.endpoint,
            ephemeral_mb=int((config.get("EphemeralStorage") or {}).get("Size", 512)),
            layer_dirs=self.layer_dirs.resolve(config, self.codes),
        )
        key = (ref.account_id, ref.region, ref.name, version)
        generation = config.get("RevisionId")
        arn = ref.qualified_arn if ref.qualifier else ref.arn
        return await self.pools.invoke(
            key,
            generation,
            fc,
            payload,
            time.time() + fc.timeout_s,
            invoked_function_arn=arn,
            client_context=client_context,
        )
