"""The SQS side of event source mappings: the poller `Source` over a queue and the
`BatchHandler` that invokes the function, as Lambda's SQS integration does.

- The event is `{"Records": [...]}`, one record per message with AWS's fields
  (`record`).
- Success deletes the batch. A function error leaves it: the messages come back
  after the queue's visibility timeout and the queue's redrive policy moves them to
  its DLQ after `maxReceiveCount` receives (the SQS service does that).
- `FunctionResponseTypes: ["ReportBatchItemFailures"]`: every message but the reported
  `itemIdentifier`s is deleted; a malformed response fails the whole batch
  (`item_failures`). On a FIFO queue everything from the first reported failure on
  stays, so that a group's order holds.
- `FilterCriteria`: messages no filter matches are deleted without invoking.
- FIFO: a batch is split by message group, one invocation per group (the queue keeps a
  group blocked while a message of it is in flight, so a group's next batch comes only
  after this one is deleted or its visibility timeout passes).
- Each outcome is reported to `on_result` as a `LastProcessingResult`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from squall.engine.concurrency import Throttled
from squall.engine.pollers import BatchThrottled
from squall.eventpattern import lambda_record_document
from squall.protocol.errors import ServiceError
from squall.services.lambda_.invoker import Call, Invoker
from squall.services.lambda_.names import FunctionRef
from squall.services.sqs.api_messages import system_attributes
from squall.services.sqs.core import SqsQueues, now_ms
from squall.services.sqs.messages import Handle, Message
from squall.services.sqs.queues import Queue

log = logging.getLogger("squall.lambda.esm")

OK = "OK"
FUNCTION_FAILED = "PROBLEM: Function call failed"
FUNCTION_MISSING = "PROBLEM: Function not found"
#: the envelope a record adds to its body and attributes, roughly (for the 6 MB payload limit)
RECORD_OVERHEAD = 1024

Matcher = Callable[[dict[str, Any]], bool]


def record(queue: Queue, msg: Message) -> dict[str, Any]:
    """One message as a record of the Lambda event."""
    return {
        "messageId": msg.id,
        "receiptHandle": msg.handle(queue.qid),
        "body": msg.body,
        "attributes": system_attributes(queue, msg),
        "messageAttributes": {name: _attribute(a) for name, a in msg.attributes.items()},
        "md5OfBody": msg.md5_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue.arn,
        "awsRegion": queue.region,
    }


def _attribute(stored: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": stored["DataType"]}
    if "BinaryValue" in stored:
        out["binaryValue"] = stored["BinaryValue"]  # stored base64, as the event carries it
    else:
        out["stringValue"] = stored["StringValue"]
    return out


def item_failures(payload: bytes, ids: set[str]) -> set[str] | None:
    """The message ids a ReportBatchItemFailures response names; None when the response is
    malformed (the whole batch failed). An empty or null response, or an empty or null list,
    is a complete success."""
    if not payload.strip():
        return set()
    try:
        response = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if response is None:
        return set()
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    out: set[str] = set()
    for item in failures:
        if not isinstance(item, dict) or set(item) != {"itemIdentifier"}:
            return None
        ident = item["itemIdentifier"]
        if not isinstance(ident, str) or not ident or ident not in ids:
            return None
        out.add(ident)
    return out


class QueueSource:
    """`engine.pollers.Source` over one queue (long polling through `SqsQueues.receive_from`)."""

    def __init__(self, queues: SqsQueues, queue: Queue) -> None:
        self.queues = queues
        self.queue = queue

    def current(self) -> Queue:
        """The queue's latest record (its visibility timeout or redrive policy may have changed)."""
        return self.queues.directory.get(self.queue.account, self.queue.region, self.queue.name)

    async def receive(self, limit: int, wait_s: float) -> Sequence[Message]:
        return await self.queues.receive_from(self.current(), limit, wait_s)

    def size(self, record: Message) -> int:
        return (
            len(record.body.encode())
            + RECORD_OVERHEAD
            + sum(len(n) + sum(len(v) for v in a.values()) for n, a in record.attributes.items())
        )

    def release(self, records: Sequence[Message]) -> None:
        now = now_ms()
        for msg in records:
            self.queues.messages.change_visibility(self.queue, _handle(self.queue, msg), 0, now)
        self.queues.signals.notify(self.queue.qid)

    def delete(self, records: Sequence[Message]) -> None:
        if records:
            self.queues.messages.delete(self.queue, [_handle(self.queue, m) for m in records], now_ms())


def _handle(queue: Queue, msg: Message) -> Handle:
    return Handle(queue.qid, msg.seq, msg.token)


class SqsBatchHandler:
    """`engine.pollers.BatchHandler` for an SQS mapping (see the module docstring)."""

    def __init__(
        self,
        invoker: Invoker,
        source: QueueSource,
        function: FunctionRef,
        *,
        report_failures: bool,
        matches: Matcher | None,
        endpoint: str | None,
        on_result: Callable[[str], None],
    ) -> None:
        self.invoker = invoker
        self.source = source
        self.function = function
        self.report_failures = report_failures
        self.matches = matches
        self.endpoint = endpoint
        self.on_result = on_result

    async def __call__(self, batch: Sequence[Message]) -> None:
        queue = self.source.queue
        if self.matches is not None:
            dropped = [m for m in batch if not self._wanted(queue, m)]
            self.source.delete(dropped)
            batch = [m for m in batch if m not in dropped]
        if not batch:
            return
        if not queue.fifo:
            await self.invoke(batch)
            return
        groups: dict[str | None, list[Message]] = {}
        for msg in batch:
            groups.setdefault(msg.group, []).append(msg)
        outcomes = await asyncio.gather(*(self.invoke(g) for g in groups.values()), return_exceptions=True)
        throttled: list[Message] = []
        cause: Throttled | None = None
        for group, outcome in zip(groups.values(), outcomes, strict=True):
            if isinstance(outcome, Throttled):
                throttled.extend(group)
                cause = outcome
            elif isinstance(outcome, BaseException):
                raise outcome
        if cause is not None:
            raise BatchThrottled(throttled, cause)

    def _wanted(self, queue: Queue, msg: Message) -> bool:
        assert self.matches is not None
        return self.matches(lambda_record_document(record(queue, msg)))

    async def invoke(self, batch: Sequence[Message]) -> None:
        queue = self.source.queue
        try:
            target = self.invoker.resolve(self.function)
        except ServiceError as exc:
            if exc.code != "ResourceNotFoundException":
                raise
            self.on_result(FUNCTION_MISSING)
            return  # the messages come back after their visibility timeout
        payload = orjson.dumps({"Records": [record(queue, m) for m in batch]})
        result = await self.invoker.run(Call(target, payload, self.endpoint))
        if not result.ok:
            self.on_result(FUNCTION_FAILED)
            return
        done: Sequence[Message] = batch
        if self.report_failures:
            failed = item_failures(result.payload, {m.id for m in batch})
            if failed is None:
                log.info("%s: malformed batchItemFailures response; the batch failed", self.function.arn)
                self.on_result(FUNCTION_FAILED)
                return
            if queue.fifo:
                first = next((i for i, m in enumerate(batch) if m.id in failed), len(batch))
                done = batch[:first]
            else:
                done = [m for m in batch if m.id not in failed]
        self.source.delete(done)
        self.on_result(OK)
