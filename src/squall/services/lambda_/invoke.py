"""`Invoke`: run a function version in the engine's pools and answer as Lambda does.

The qualifier is resolved by `invoker.Invoker` ($LATEST, a version, or an alias whose
`AdditionalVersionWeights` route each call at random by weight). Synchronous
(`RequestResponse`) calls return the function's result or its error document
with `X-Amz-Function-Error: Unhandled`; `LogType=Tail` adds the last 4 KB of
the invocation's log framed by START/END/REPORT. `DryRun` only checks access.
`Event` (async) commits the event to the durable queue (`engine.asyncq`) and
answers 202 with an empty payload; see `async_invoke` for how it runs.
Engine errors map to AWS errors in `ENGINE_ERRORS`, here on the service side.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import time
from typing import Any

import orjson

from squall.engine.asyncq import AsyncEvent, AsyncQueue
from squall.engine.codecache import CodeCacheError
from squall.engine.concurrency import Throttled
from squall.engine.environment import EnvironmentError_, InvocationResult
from squall.engine.pool import UnsupportedRuntime
from squall.engine.zygote import ZygoteError
from squall.observability import tail
from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext, not_implemented
from squall.services.lambda_.async_invoke import ASYNC_REQUEST_LIMIT
from squall.services.lambda_.invoker import Call, Invoker, report_of
from squall.services.lambda_.names import FunctionRef, parse_function
from squall.services.lambda_.shared import check_grant
from squall.services.operations import operation

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


def throttled_error(exc: Throttled) -> ServiceError:
    """Lambda's 429 for a throttled call: `Reason` names the limit; Retry-After when a wait is known."""
    fields: dict[str, Any] = {"Reason": exc.reason.value, "Type": "User"}
    if exc.retry_after_s is not None:
        fields["retryAfterSeconds"] = str(max(1, math.ceil(exc.retry_after_s)))
    return ServiceError("TooManyRequestsException", "Rate Exceeded.", 429, fields=fields)


def _invalid_content(message: str) -> ServiceError:
    return ServiceError("InvalidRequestContentException", message, 400, fields={"Type": "User"})


def log_tail(result: InvocationResult, version: str, memory_mb: int) -> bytes:
    """The last 4 KB of the invocation's framed log (observability's one formatter)."""
    return tail(report_of(result, version, memory_mb), LOG_TAIL_BYTES)


@functools.lru_cache(maxsize=4096)
def _function_ref(identifier: str, account_id: str, region: str, qualifier: str | None) -> FunctionRef:
    """`shared.ref_of` for Invoke, remembered (a FunctionRef is immutable; refusals are not cached)."""
    return parse_function(
        identifier, account_id=account_id, region=region, qualifier=qualifier, any_account=True
    )


def _check_json(payload: bytes) -> None:
    """Refuse a payload that is not JSON (orjson first: the standard library decides what it refuses)."""
    try:
        orjson.loads(payload)
    except orjson.JSONDecodeError:
        try:
            json.loads(payload)
        except ValueError as exc:
            raise _invalid_content(f"Could not parse request body into json: {exc}") from None


def _too_large(size: int, limit: int, kind: str) -> ServiceError:
    """AWS's 413 for an Invoke payload past the limit (recorded responses: "Request must be smaller
    than 6291456 bytes for the InvokeFunction operation", awslabs/aws-athena-query-federation#793;
    "264496 byte payload is too large for the Event invocation type (limit 262144 bytes)",
    ASFHyP3/hyp3#2241; both `RequestEntityTooLargeException`)."""
    message = (
        f"{size} byte payload is too large for the Event invocation type (limit {limit} bytes)"
        if kind == "Event"
        else f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
    )
    return ServiceError("RequestEntityTooLargeException", message, 413, fields={"Type": "User"})


class InvokeApi:
    def __init__(self, invoker: Invoker, queue: AsyncQueue | None = None) -> None:
        self.invoker = invoker
        self.queue = queue

    @operation("Invoke", action="lambda:InvokeFunction")
    async def invoke(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ref = _function_ref(params["FunctionName"], ctx.account_id, ctx.region, params.get("Qualifier"))
        if ref.account_id != ctx.account_id:
            check_grant(self.invoker.shared, ctx, ref, "lambda:InvokeFunction")
        payload: bytes = params.get("Payload") or b""
        kind = params.get("InvocationType") or "RequestResponse"
        limit = ASYNC_REQUEST_LIMIT if kind == "Event" else REQUEST_LIMIT
        if len(payload) > limit:
            raise _too_large(len(payload), limit, kind)
        target = self.invoker.resolve(ref)
        state = target.config.get("State")
        if state != "Active":
            raise ServiceError(
                "ResourceConflictException",
                f"The operation cannot be performed at this time. The function is currently in the following state: {state}",
                409,
                fields={"Type": "User"},
            )
        if kind == "DryRun":
            return {"StatusCode": 204}
        if payload.strip():
            _check_json(payload)
        else:
            payload = b"{}"
        if kind == "Event":
            return self._enqueue(ctx, ref, payload)
        client_context = None
        if params.get("ClientContext"):
            try:
                client_context = json.loads(base64.b64decode(params["ClientContext"], validate=True))
            except (ValueError, binascii.Error):
                raise _invalid_content("Client context must be a valid Base64-encoded JSON object.") from None
        call = Call(target, payload, ctx.endpoint, request_id=ctx.request_id, client_context=client_context)
        try:
            result = await self.invoker.run(call)
        except Throttled as exc:
            raise throttled_error(exc) from exc
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

    def _enqueue(self, ctx: RequestContext, ref: FunctionRef, payload: bytes) -> dict[str, Any]:
        """Commit the event to the queue before answering 202 (ClientContext is for sync calls only)."""
        if self.queue is None:
            raise not_implemented("lambda", "Invoke with InvocationType Event")
        event = AsyncEvent(
            ctx.request_id,
            ref.account_id,
            ref.region,
            ref.name,
            ref.qualifier,
            payload,
            time.time(),
            ctx.endpoint,
        )
        self.queue.enqueue(event)
        return {"StatusCode": 202, "Payload": b""}
