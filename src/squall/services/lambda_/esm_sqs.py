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
from squall.services.ports import FeedQueue, QueuedMessage

log = logging.getLogger("squall.lambda.esm")

OK = "OK"
FUNCTION_FAILED = "PROBLEM: Function call failed"
FUNCTION_MISSING = "PROBLEM: Function not found"

Matcher = Callable[[dict[str, Any]], bool]


def record(queue: FeedQueue, msg: QueuedMessage) -> dict[str, Any]:
    """One message as a record of the Lambda event."""
    return {
        "messageId": msg.message_id,
        "receiptHandle": msg.receipt_handle,
        "body": msg.body,
        "attributes": msg.attributes,
        "messageAttributes": {name: _attribute(a) for name, a in msg.message_attributes.items()},
        "md5OfMessageAttributes": msg.md5_of_message_attributes,
        "md5OfBody": msg.md5_of_body,
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
    """`engine.pollers.Source` over one queue (SQS's `ports.FeedQueue`: long polling)."""

    def __init__(self, queue: FeedQueue) -> None:
        self.queue = queue

    async def receive(self, limit: int, wait_s: float) -> Sequence[QueuedMessage]:
        return await self.queue.receive(limit, wait_s)

    def size(self, record: QueuedMessage) -> int:
        return record.size

    def release(self, records: Sequence[QueuedMessage]) -> None:
        self.queue.release(records)

    def delete(self, records: Sequence[QueuedMessage]) -> None:
        self.queue.delete(records)


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

    async def __call__(self, batch: Sequence[QueuedMessage]) -> None:
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
        groups: dict[str | None, list[QueuedMessage]] = {}
        for msg in batch:
            groups.setdefault(msg.group, []).append(msg)
        outcomes = await asyncio.gather(*(self.invoke(g) for g in groups.values()), return_exceptions=True)
        throttled: list[QueuedMessage] = []
        cause: Throttled | None = None
        for group, outcome in zip(groups.values(), outcomes, strict=True):
            if isinstance(outcome, Throttled):
                throttled.extend(group)
                cause = outcome
            elif isinstance(outcome, BaseException):
                raise outcome
        if cause is not None:
            raise BatchThrottled(throttled, cause)

    def _wanted(self, queue: FeedQueue, msg: QueuedMessage) -> bool:
        assert self.matches is not None
        return self.matches(lambda_record_document(record(queue, msg)))

    async def invoke(self, batch: Sequence[QueuedMessage]) -> None:
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
        done: Sequence[QueuedMessage] = batch
        if self.report_failures:
            failed = item_failures(result.payload, {m.message_id for m in batch})
            if failed is None:
                log.info("%s: malformed batchItemFailures response; the batch failed", self.function.arn)
                self.on_result(FUNCTION_FAILED)
                return
            if queue.fifo:
                first = next((i for i, m in enumerate(batch) if m.message_id in failed), len(batch))
                done = batch[:first]
            else:
                done = [m for m in batch if m.message_id not in failed]
        self.source.delete(done)
        self.on_result(OK)
