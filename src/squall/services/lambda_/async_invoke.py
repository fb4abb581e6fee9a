"""Asynchronous invocation on the service side: what runs a queued event, and the AWS record shapes.

`EventRunner` is the `engine.asyncq.AsyncRunner` of the Lambda service: for
each attempt it resolves the target afresh (an alias's weights pick a version
per attempt; a deleted function or qualifier drops the event with a log
line) and runs it through `Invoker.run(Call(..., invocation_type="Event"))`.
Its `policy` reads the event invoke config of the function as invoked
(`MaximumRetryAttempts`, `MaximumEventAgeInSeconds`; defaults 2 and 21,600)
and caps running events per function at its reserved concurrency.

`destination_record(outcome)` is the invocation record AWS sends to an
`OnSuccess` / `OnFailure` destination; `dlq_message(outcome)` is what a
`DeadLetterConfig` target gets (the original event as the body, attributes
RequestID, ErrorCode, ErrorMessage). `destinations.DeliveringSink` sends them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from squall.engine.asyncq import (
    SUCCESS,
    AsyncEvent,
    AsyncOutcome,
    Attempt,
    AttemptKind,
    RetryPolicy,
)
from squall.protocol.errors import ServiceError
from squall.services.lambda_.functions import read_function
from squall.services.lambda_.invoke_config import InvokeConfigStore
from squall.services.lambda_.invoker import Call, Invoker
from squall.services.lambda_.names import LATEST, FunctionRef, function_arn

log = logging.getLogger("squall.lambda.async")

ASYNC_REQUEST_LIMIT = 1_048_576  # bytes: AWS's asynchronous Invoke payload limit (1 MB)
DLQ_MESSAGE_LIMIT = 1024  # ErrorMessage is truncated to 1 KB


def ref_of_event(event: AsyncEvent) -> FunctionRef:
    return FunctionRef(event.account, event.region, event.function, event.qualifier)


class EventRunner:
    def __init__(
        self, invoker: Invoker, invoke_configs: InvokeConfigStore, endpoint: str | None = None
    ) -> None:
        self.invoker = invoker
        self.invoke_configs = invoke_configs
        # this server's endpoint, preferred to the one recorded at enqueue (a restart may move it)
        self.endpoint = endpoint

    def policy(self, event: AsyncEvent) -> RetryPolicy:
        ref = ref_of_event(event)
        config = self.invoke_configs.find(ref)
        policy = RetryPolicy()
        if config is not None:
            if config.maximum_retry_attempts is not None:
                policy = RetryPolicy(config.maximum_retry_attempts, policy.max_age_s)
            if config.maximum_event_age_in_seconds is not None:
                policy = RetryPolicy(policy.max_retries, float(config.maximum_event_age_in_seconds))
        with self.invoker.shared.store.read() as r:
            try:
                reserved = read_function(r, ref).reserved
            except ServiceError:  # deleted: the run drops the event
                reserved = None
        return RetryPolicy(policy.max_retries, policy.max_age_s, reserved or None)

    async def run(self, event: AsyncEvent) -> Attempt:
        ref = ref_of_event(event)
        try:
            target = self.invoker.resolve(ref)
        except ServiceError as exc:
            if exc.code == "ResourceNotFoundException":
                log.info("async event %s dropped: %s", event.event_id, exc.message)
                return Attempt(AttemptKind.GONE, status_code=404, error=exc.message)
            raise
        endpoint = self.endpoint or event.endpoint
        call = Call(target, event.payload, endpoint, invocation_type="Event", request_id=event.event_id)
        result = await self.invoker.run(call)
        if result.ok:
            return Attempt(AttemptKind.SUCCESS, result.payload, target.version)
        return Attempt(
            AttemptKind.FUNCTION_ERROR, result.payload, target.version, result.function_error or "Unhandled"
        )


def _json_or_text(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def _timestamp(t: float) -> str:
    seconds, ms = divmod(round(t * 1000), 1000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms:03d}Z"


def executed_arn(outcome: AsyncOutcome) -> str:
    """The function ARN qualified as executed (the version an alias picked; $LATEST when unqualified)."""
    e = outcome.event
    version = outcome.last.executed_version if outcome.last is not None else None
    return function_arn(e.account, e.region, e.function, version or e.qualifier or LATEST)


def destination_record(outcome: AsyncOutcome) -> dict[str, Any]:
    """AWS's invocation record for an OnSuccess / OnFailure destination (version "1.0")."""
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": _timestamp(outcome.finished_at),
        "requestContext": {
            "requestId": outcome.event.event_id,
            "functionArn": executed_arn(outcome),
            "condition": outcome.condition,
            "approximateInvokeCount": outcome.event.attempts,
        },
        "requestPayload": _json_or_text(outcome.event.payload),
    }
    last = outcome.last
    if last is not None:
        response: dict[str, Any] = {"statusCode": last.status_code, "executedVersion": last.executed_version}
        if last.function_error:
            response["functionError"] = last.function_error
        record["responseContext"] = response
        record["responsePayload"] = _json_or_text(last.payload)
    return record


@dataclass(frozen=True)
class DlqMessage:
    """A dead-letter message: the original event as the body and Lambda's message attributes
    (name -> (DataType, value), the SQS/SNS attribute types)."""

    body: bytes
    attributes: dict[str, tuple[str, str]]


def dlq_message(outcome: AsyncOutcome) -> DlqMessage:
    last = outcome.last
    if last is not None and last.function_error:
        doc = _json_or_text(last.payload)
        message = doc.get("errorMessage", "") if isinstance(doc, dict) else str(doc or "")
        code = last.status_code
    elif outcome.condition == SUCCESS:
        raise ValueError("a successful outcome has no dead-letter message")
    else:
        message = outcome.event.last_error or outcome.condition
        code = last.status_code if last is not None else 429 if outcome.event.throttles else 500
    data = message.encode()[:DLQ_MESSAGE_LIMIT].decode(errors="ignore")
    return DlqMessage(
        outcome.event.payload,
        {
            "RequestID": ("String", outcome.event.event_id),
            "ErrorCode": ("Number", str(code)),
            "ErrorMessage": ("String", data),
        },
    )


def destinations_for(
    outcome: AsyncOutcome, destination_config: dict[str, Any], function_config: dict[str, Any]
) -> list[tuple[str, str]]:
    """Where an outcome goes: (kind, ARN) with kind "OnSuccess", "OnFailure" or "DeadLetterConfig"."""
    out: list[tuple[str, str]] = []
    kind = "OnSuccess" if outcome.condition == SUCCESS else "OnFailure"
    arn = (destination_config.get(kind) or {}).get("Destination")
    if arn:
        out.append((kind, arn))
    dlq = (function_config.get("DeadLetterConfig") or {}).get("TargetArn")
    if dlq and outcome.condition != SUCCESS:
        out.append(("DeadLetterConfig", dlq))
    return out
