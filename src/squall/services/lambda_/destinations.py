"""Delivery of async outcomes to destinations and dead-letter queues: `DeliveringSink`.

`DeliveringSink` is the `engine.asyncq.OutcomeSink` of the Lambda service.
For each final outcome (Success, RetriesExhausted, EventAgeExceeded) it sends:

- to the `OnSuccess` / `OnFailure` destination of the event invoke config,
  AWS's invocation record (`async_invoke.destination_record`) as JSON: the
  body of an SQS message, the message of an SNS publish, or the payload of an
  asynchronous invocation of a Lambda function (same account: no resource
  policy check, as on AWS);
- on failure, also to the executed version's `DeadLetterConfig` target, the
  original event with the attributes `RequestID` (String), `ErrorCode`
  (Number) and `ErrorMessage` (String, truncated to 1 KB).

Targets are picked by the service in the ARN and reached as the function's
execution role (`Invoker.acting_principal`): SQS (`SendMessage`) and SNS
(`Publish`) through the in-process client, Lambda through its own event door
(`LambdaEvents.submit`).

Failure: a target that does not exist, refuses the message (too large, a FIFO
queue or topic: AWS supports standard ones only) or is not reachable in this
server counts one `DestinationDeliveryFailures` (destinations) or
`DeadLetterErrors` (DLQ) in `AWS/Lambda` and is logged; the outcome is not
retried (AWS drops it after trying). The sink never raises for a target, so
the queue never re-runs the function because of one. Delivery happens before
the outcome is recorded and before the queue deletes the event: a crash in
between delivers again after the restart (at-least-once).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from squall.engine.asyncq import AsyncOutcome
from squall.observability import Metrics
from squall.observability.metrics import LAMBDA, lambda_dims
from squall.protocol.errors import ServiceError
from squall.services.calls import Calls
from squall.services.context import Principal
from squall.services.lambda_.async_invoke import destination_record, dlq_message
from squall.services.lambda_.async_outcomes import RecordingSink
from squall.services.lambda_.names import FunctionRef
from squall.services.ports import FunctionEvents, queue_url

log = logging.getLogger("squall.lambda.async")

DESTINATION_FAILURES = "DestinationDeliveryFailures"
DEAD_LETTER_ERRORS = "DeadLetterErrors"


#: The principal Lambda acts as for a function (its execution role) and a source ARN.
ActingPrincipal = Callable[[FunctionRef, str], Principal]


@dataclass
class Senders:
    """What the sink reaches targets with: the in-process client (SQS, SNS), Lambda's own event
    door, and who it acts as; None: not in this server (delivery fails)."""

    calls: Calls | None = None
    functions: FunctionEvents | None = None
    acting: ActingPrincipal | None = None


class DeliveryFailed(Exception):
    pass


@dataclass(frozen=True)
class Arn:
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, arn: str) -> Arn:
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            raise DeliveryFailed(f"{arn} is not an ARN")
        return cls(parts[2], parts[3], parts[4], parts[5])


@dataclass(frozen=True)
class Message:
    """What one target receives: a body and (DLQ only) message attributes in the SQS/SNS wire form."""

    body: str
    attributes: dict[str, dict[str, str]] | None = None


def record_message(outcome: AsyncOutcome) -> Message:
    return Message(json.dumps(destination_record(outcome), separators=(",", ":")))


def dead_letter_message(outcome: AsyncOutcome) -> Message:
    msg = dlq_message(outcome)
    attributes = {
        name: {"DataType": data_type, "StringValue": value}
        for name, (data_type, value) in msg.attributes.items()
        if value  # SQS and SNS refuse empty attribute values
    }
    return Message(msg.body.decode(errors="replace"), attributes)


class DeliveringSink:
    def __init__(self, recorder: RecordingSink, metrics: Metrics, senders: Senders | None = None) -> None:
        self.recorder = recorder
        self.metrics = metrics
        self.senders = senders or Senders()

    async def deliver(self, outcome: AsyncOutcome) -> None:
        entry = self.recorder.entry(outcome)
        principal = self._principal(outcome)
        for destination in entry["destinations"]:
            kind, arn = destination["kind"], destination["arn"]
            dead_letter = kind == "DeadLetterConfig"
            try:
                message = dead_letter_message(outcome) if dead_letter else record_message(outcome)
                await self._send(principal, arn, message)
            except Exception as exc:  # every failure is the target's: counted, logged, dropped
                error = exc.message if isinstance(exc, ServiceError) else f"{type(exc).__name__}: {exc}"
                destination.update(delivered=False, error=error)
                self._count_failure(outcome, DEAD_LETTER_ERRORS if dead_letter else DESTINATION_FAILURES)
                level = logging.WARNING if isinstance(exc, ServiceError | DeliveryFailed) else logging.ERROR
                log.log(
                    level,
                    "async event %s: %s %s not delivered: %s",
                    outcome.event.event_id,
                    kind,
                    arn,
                    error,
                    exc_info=level == logging.ERROR,
                )
            else:
                destination["delivered"] = True
        self.recorder.record(outcome, entry)

    def _principal(self, outcome: AsyncOutcome) -> Principal:
        e = outcome.event
        ref = FunctionRef(e.account, e.region, e.function, e.qualifier)
        if self.senders.acting is None:
            return Principal.for_service("lambda.amazonaws.com", e.account, source_arn=ref.arn)
        return self.senders.acting(ref, ref.arn)

    async def send(self, principal: Principal, arn: str, message: Message) -> None:
        """Send one message to an SQS queue or SNS topic (or Lambda function) ARN as `principal`;
        raises on failure."""
        await self._send(principal, arn, message)

    async def _send(self, principal: Principal, arn: str, message: Message) -> None:
        target = Arn.parse(arn)
        senders = self.senders
        if target.service in ("sqs", "sns"):
            calls = senders.calls
            if calls is None:
                raise DeliveryFailed(f"{target.service.upper()} is not available in this server")
            if target.resource.endswith(".fifo"):
                kind = "queues" if target.service == "sqs" else "topics"
                raise DeliveryFailed(f"FIFO {kind} are not supported as destinations")
            params: dict[str, Any]
            if target.service == "sqs":
                params = {"QueueUrl": queue_url(arn), "MessageBody": message.body}
                operation = "SendMessage"
            else:
                params = {"TopicArn": arn, "Message": message.body}
                operation = "Publish"
            if message.attributes:
                params["MessageAttributes"] = message.attributes
            await calls.call(principal, target.service, operation, params, region=target.region)
        elif target.service == "lambda":
            if senders.functions is None:
                raise DeliveryFailed("Lambda events are not available in this server")
            senders.functions.submit(principal, arn, message.body.encode(), region=target.region)
        else:
            raise DeliveryFailed(f"{target.service} destinations are not supported yet")

    def _count_failure(self, outcome: AsyncOutcome, metric: str) -> None:
        e = outcome.event
        executed = outcome.last.executed_version if outcome.last is not None else None
        for dims in lambda_dims(e.function, e.qualifier, executed):
            self.metrics.put(e.account, e.region, LAMBDA, metric, dims, 1, "Count")
