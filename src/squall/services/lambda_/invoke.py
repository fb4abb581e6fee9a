"""`Invoke`: run a function version in the engine's pools and answer as Lambda does.

The qualifier is resolved by `invoker.Invoker` ($LATEST, a version, or an alias whose
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
from typing import Any

from squall.engine.codecache import CodeCacheError
from squall.engine.environment import EnvironmentError_, InvocationResult
from squall.engine.pool import UnsupportedRuntime
from squall.engine.zygote import ZygoteError
from squall.observability import tail
from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext, not_implemented
from squall.services.lambda_.deps import ref_of
from squall.services.lambda_.invoker import Call, Invoker, report_of

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


def log_tail(result: InvocationResult, version: str, memory_mb: int) -> bytes:
    """The last 4 KB of the invocation's framed log (observability's one formatter)."""
    return tail(report_of(result, version, memory_mb), LOG_TAIL_BYTES)


class InvokeApi:
    def __init__(self, invoker: Invoker) -> None:
        self.invoker = invoker

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
        target = self.invoker.resolve(ref)
        state = target.config.get("State")
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
        call = Call(target, payload, ctx.endpoint, request_id=ctx.request_id, client_context=client_context)
        try:
            result = await self.invoker.run(call)
        except (UnsupportedRuntime, CodeCacheError, ZygoteError, EnvironmentError_) as exc:
            raise engine_error(exc) from exc
        out: dict[str, Any] = {
            "StatusCode": 200,
            "Payload": result.payload,
            "ExecutedVersion": target.version,
        }
        if result.function_error:
            out["FunctionError"] = result.function_error
        if params.get("LogType") == "Tail":
            log = log_tail(result, target.version, target.memory_mb)
            out["LogResult"] = base64.b64encode(log).decode()
        return out
