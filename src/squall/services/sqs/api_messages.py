"""Message operations: send, receive, delete, change visibility (single and batch)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext
from squall.services.operations import operation
from squall.services.sqs import access
from squall.services.sqs import message_attrs as ma
from squall.services.sqs.errors import invalid_value, sqs_error
from squall.services.sqs.messages import Handle, Message
from squall.services.sqs.messaging import SqsQueues, expired_handle, now_ms
from squall.services.sqs.queues import Queue

MAX_BATCH = 10
MAX_BATCH_BYTES = 1_048_576
_ENTRY_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")


def check_batch(entries: list[dict[str, Any]], entry_shape: str) -> None:
    if not entries:
        raise sqs_error("EmptyBatchRequest", f"There should be at least one {entry_shape} in the request.")
    if len(entries) > MAX_BATCH:
        raise sqs_error(
            "TooManyEntriesInBatchRequest",
            f"Maximum number of entries per request are {MAX_BATCH}. You have sent {len(entries)}.",
        )
    seen: set[str] = set()
    for entry in entries:
        if not _ENTRY_ID.fullmatch(entry["Id"]):
            raise sqs_error(
                "InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. "
                "It can be at most 80 letters long.",
            )
        if entry["Id"] in seen:
            raise sqs_error("BatchEntryIdsNotDistinct", f"Id {entry['Id']} repeated.")
        seen.add(entry["Id"])


def run_batch(
    entries: list[dict[str, Any]], action: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """Apply `action` to each entry; ServiceErrors become per-entry failures."""
    ok: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for entry in entries:
        try:
            ok.append({"Id": entry["Id"], **action(entry)})
        except ServiceError as e:
            failed.append(failure(entry["Id"], e))
    return {"Successful": ok, "Failed": failed}


def failure(entry_id: str, error: ServiceError) -> dict[str, Any]:
    """A batch entry's failure: the legacy query code, as AWS reports it."""
    return {
        "Id": entry_id,
        "SenderFault": error.sender_fault,
        "Code": _query_code(error),
        "Message": error.message,
    }


def _query_code(error: ServiceError) -> str:
    header = error.headers.get("x-amzn-query-error", "")
    return header.split(";")[0] if header else error.code


class MessagesApi:
    def __init__(self, sqs: SqsQueues) -> None:
        self.sqs = sqs

    def _queue(self, ctx: RequestContext, params: dict[str, Any]) -> Queue:
        """The queue of `QueueUrl`, if the caller may perform this operation on it."""
        queue = self.sqs.directory.by_url(params["QueueUrl"], ctx.account_id, ctx.region)
        if queue.account == ctx.principal.account_id:
            return queue
        return access.check(ctx.principal, queue, ctx.operation)

    # -- send ----------------------------------------------------------------------------

    def _prepare(self, ctx: RequestContext, queue: Queue, p: dict[str, Any]) -> tuple[Message, int]:
        return self.sqs.prepare(
            queue,
            p["MessageBody"],
            p.get("MessageAttributes"),
            system=p.get("MessageSystemAttributes"),
            delay=p.get("DelaySeconds"),
            group=p.get("MessageGroupId"),
            dedup=p.get("MessageDeduplicationId"),
            sender=ctx.account_id,
        )

    @operation("SendMessage")
    def send_message(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        queue = self._queue(ctx, params)
        item = self._prepare(ctx, queue, params)
        self.sqs.store(queue, [item])
        return sent_result(queue, item[0])

    @operation("SendMessageBatch")
    def send_message_batch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        queue = self._queue(ctx, params)
        entries = list(params.get("Entries") or [])
        check_batch(entries, "SendMessageBatchRequestEntry")
        total = sum(len(e["MessageBody"].encode()) + _attrs_size(e.get("MessageAttributes")) for e in entries)
        if total > MAX_BATCH_BYTES:
            raise sqs_error(
                "BatchRequestTooLong",
                f"Batch requests cannot be longer than {MAX_BATCH_BYTES} bytes. You have sent {total} bytes.",
            )
        prepared: dict[str, tuple[Message, int]] = {}

        def prepare(entry: dict[str, Any]) -> dict[str, Any]:
            prepared[entry["Id"]] = self._prepare(ctx, queue, entry)
            return {}

        out = run_batch(entries, prepare)
        self.sqs.store(queue, list(prepared.values()))
        out["Successful"] = [{"Id": i, **sent_result(queue, m)} for i, (m, _) in prepared.items()]
        return out

    # -- receive -------------------------------------------------------------------------

    @operation("ReceiveMessage")
    async def receive_message(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        queue = self._queue(ctx, params)
        limit = params.get("MaxNumberOfMessages", 1)
        if not 1 <= limit <= MAX_BATCH:
            raise invalid_value("MaxNumberOfMessages", limit, "Must be between 1 and 10, if provided.")
        wait = params.get("WaitTimeSeconds")
        if wait is None:
            wait = queue.int_attr("ReceiveMessageWaitTimeSeconds")
        if not 0 <= wait <= 20:
            raise invalid_value("WaitTimeSeconds", wait, "Must be >= 0 and <= 20, if provided.")
        visibility = params.get("VisibilityTimeout")
        if visibility is not None and not 0 <= visibility <= 43_200:
            raise invalid_value("VisibilityTimeout", visibility, "Must be >= 0 and <= 43200, if provided.")
        taken = await self.sqs.receive_from(queue, limit, wait, visibility)
        system = [*(params.get("AttributeNames") or []), *(params.get("MessageSystemAttributeNames") or [])]
        wanted_attrs = list(params.get("MessageAttributeNames") or [])
        return {"Messages": [render(queue, m, system, wanted_attrs) for m in taken]}

    # -- delete / visibility -------------------------------------------------------------

    @operation("DeleteMessage")
    def delete_message(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.sqs.delete_from(self._queue(ctx, params), params["ReceiptHandle"])
        return {}

    @operation("DeleteMessageBatch")
    def delete_message_batch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        queue = self._queue(ctx, params)
        entries = list(params.get("Entries") or [])
        check_batch(entries, "DeleteMessageBatchRequestEntry")

        handles: dict[str, Handle] = {}

        def parse(entry: dict[str, Any]) -> dict[str, Any]:
            handles[entry["Id"]] = self.sqs.handle(queue, entry["ReceiptHandle"])
            return {}

        out = run_batch(entries, parse)
        done = dict(
            zip(handles, self.sqs.messages.delete(queue, list(handles.values()), now_ms()), strict=True)
        )
        by_id = {e["Id"]: e["ReceiptHandle"] for e in entries}
        for entry_id, ok in done.items():
            if not ok:
                error = expired_handle(by_id[entry_id])
                out["Failed"].append(failure(entry_id, error))
        out["Successful"] = [{"Id": i} for i, ok in done.items() if ok]
        return out

    @operation("ChangeMessageVisibility")
    def change_message_visibility(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.sqs.change_visibility(
            self._queue(ctx, params), params["ReceiptHandle"], params["VisibilityTimeout"]
        )
        return {}

    @operation("ChangeMessageVisibilityBatch")
    def change_message_visibility_batch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        queue = self._queue(ctx, params)
        entries = list(params.get("Entries") or [])
        check_batch(entries, "ChangeMessageVisibilityBatchRequestEntry")

        def change(entry: dict[str, Any]) -> dict[str, Any]:
            self.sqs.change_visibility(queue, entry["ReceiptHandle"], entry.get("VisibilityTimeout", 0))
            return {}

        return run_batch(entries, change)


def sent_result(queue: Queue, msg: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"MessageId": msg.id, "MD5OfMessageBody": msg.md5_body}
    if msg.md5_attributes:
        out["MD5OfMessageAttributes"] = msg.md5_attributes
    if msg.md5_system:
        out["MD5OfMessageSystemAttributes"] = msg.md5_system
    if queue.fifo:
        out["SequenceNumber"] = msg.sequence_number
    return out


def _attrs_size(attrs: dict[str, Any] | None) -> int:
    size = 0
    for name, attr in (attrs or {}).items():
        value = attr.get("BinaryValue") or (attr.get("StringValue") or "").encode()
        size += len(name.encode()) + len(str(attr.get("DataType", "")).encode()) + len(value)
    return size


def system_attributes(queue: Queue, msg: Message) -> dict[str, str]:
    out = {
        "SenderId": msg.sender,
        "SentTimestamp": str(msg.sent),
        "ApproximateReceiveCount": str(msg.receive_count),
        "ApproximateFirstReceiveTimestamp": str(msg.first_receive),
    }
    if queue.fifo:
        out["SequenceNumber"] = msg.sequence_number
        out["MessageDeduplicationId"] = msg.dedup or ""
    if msg.group is not None:
        out["MessageGroupId"] = msg.group
    trace = msg.system.get("AWSTraceHeader")
    if trace:
        out["AWSTraceHeader"] = trace["StringValue"]
    if msg.dlq_source:
        out["DeadLetterQueueSourceArn"] = msg.dlq_source
    return out


def render(queue: Queue, msg: Message, system: list[str], wanted_attrs: list[str]) -> dict[str, Any]:
    """A received message as ReceiveMessage returns it."""
    out: dict[str, Any] = {
        "MessageId": msg.id,
        "ReceiptHandle": msg.handle(queue.qid),
        "MD5OfBody": msg.md5_body,
        "Body": msg.body,
    }
    if system:
        everything = system_attributes(queue, msg)
        picked = everything if "All" in system else {k: v for k, v in everything.items() if k in system}
        if picked:
            out["Attributes"] = picked
    attrs = ma.select(msg.attributes, wanted_attrs)
    if attrs:
        out["MessageAttributes"] = ma.from_stored(attrs)
        out["MD5OfMessageAttributes"] = ma.attributes_md5(attrs)
    return out
