"""`SqsQueues`: the in-process interface to queues, used by the SQS API and by
other services (SNS delivery, Lambda DLQs and destinations, the SQS event
source mapping poller). See README.md.

All methods run on the event loop thread (the store calls are short and
synchronous); `receive` is a coroutine because it may long-poll.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

from squall.protocol.errors import ServiceError
from squall.services.sqs import message_attrs as ma
from squall.services.sqs.errors import invalid_parameter, invalid_value, receipt_handle_invalid, sqs_error
from squall.services.sqs.messages import Handle, Message, MessageStore, new_message_id, parse_handle
from squall.services.sqs.queues import Queue, QueueDirectory
from squall.storage import Store


def now_ms() -> int:
    return int(time.time() * 1000)


class Signals:
    """One 'messages may be available' event per queue (by qid), re-armed after each set."""

    def __init__(self) -> None:
        self._events: dict[int, asyncio.Event] = {}

    def notify(self, qid: int) -> None:
        event = self._events.pop(qid, None)
        if event is not None:
            event.set()

    def event(self, qid: int) -> asyncio.Event:
        return self._events.setdefault(qid, asyncio.Event())

    async def wait(self, qid: int, wait_s: float) -> bool:
        try:
            async with asyncio.timeout(wait_s):
                await self.event(qid).wait()
        except TimeoutError:
            return False
        return True


class SqsQueues:
    def __init__(self, store: Store) -> None:
        self.directory = QueueDirectory(store)
        self.messages = MessageStore(store, self.directory)
        self.signals = Signals()

    def queue(self, account: str, region: str, ref: str) -> Queue:
        """The queue named by an ARN or a queue URL; QueueDoesNotExist otherwise."""
        return self.directory.by_arn_or_url(ref, account, region)

    # -- send ----------------------------------------------------------------------------

    def send(
        self,
        account: str,
        region: str,
        queue_ref: str,
        body: str,
        attributes: dict[str, Any] | None = None,
        **options: Any,
    ) -> str:
        """Send one message; its MessageId. `options` as `send_to`."""
        return self.send_to(self.queue(account, region, queue_ref), body, attributes, **options)[0].id

    def send_to(
        self, queue: Queue, body: str, attributes: dict[str, Any] | None = None, **options: Any
    ) -> tuple[Message, bool]:
        """Validate and store one message (wire-form attributes: BinaryValue as bytes;
        `options` as `prepare`). The stored message and whether it is new (False: a FIFO
        duplicate, reported with the original's id)."""
        item = self.prepare(queue, body, attributes, **options)
        return item[0], self.store(queue, [item])[0]

    def prepare(
        self,
        queue: Queue,
        body: str,
        attributes: dict[str, Any] | None = None,
        *,
        system: dict[str, Any] | None = None,
        delay: int | None = None,
        group: str | None = None,
        dedup: str | None = None,
        sender: str | None = None,
    ) -> tuple[Message, int]:
        """Validate one message for `queue`: the unsaved message and its delay in seconds."""
        attributes, system = attributes or {}, system or {}
        if not body:
            raise sqs_error("MissingParameter", "The request must contain the parameter MessageBody.")
        ma.check_body(body)
        size = len(body.encode()) + ma.check_attributes(attributes) + ma.check_attributes(system, system=True)
        limit = queue.int_attr("MaximumMessageSize")
        if size > limit:
            raise invalid_parameter(
                f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
            )
        if delay is not None and not 0 <= delay <= 900:
            raise invalid_value("DelaySeconds", delay, "Must be >= 0 and <= 900, if provided.")
        group, dedup = self._fifo_fields(queue, body, delay, group, dedup)
        msg = Message(
            id=new_message_id(),
            seq=0,
            body=body,
            md5_body=ma.body_md5(body),
            sent=now_ms(),
            visible_at=0,
            attributes=ma.to_stored(attributes),
            md5_attributes=ma.attributes_md5(attributes),
            system=ma.to_stored(system),
            md5_system=ma.attributes_md5(system),
            sender=sender or queue.account,
            group=group,
            dedup=dedup,
        )
        return msg, queue.int_attr("DelaySeconds") if delay is None else delay

    def store(self, queue: Queue, items: list[tuple[Message, int]]) -> list[bool]:
        """Store prepared messages in one transaction and wake the queue's receivers."""
        fresh = self.messages.send(queue, items, now_ms())
        if any(new and delay == 0 for new, (_, delay) in zip(fresh, items, strict=True)):
            self.signals.notify(queue.qid)
        return fresh

    @staticmethod
    def _fifo_fields(
        queue: Queue, body: str, delay: int | None, group: str | None, dedup: str | None
    ) -> tuple[str | None, str | None]:
        if not queue.fifo:
            if dedup is not None:
                raise invalid_parameter(
                    "The request include parameter that is not valid for this queue type. "
                    "Reason: MessageDeduplicationId is only valid for FIFO queues."
                )
            return group, None
        if not group:
            raise missing_group()
        if delay:
            raise invalid_value(
                "DelaySeconds", delay, "The request include parameter that is not valid for this queue type."
            )
        if dedup is None:
            if queue.attributes.get("ContentBasedDeduplication") != "true":
                raise invalid_parameter(
                    "The queue should either have ContentBasedDeduplication enabled or "
                    "MessageDeduplicationId provided explicitly"
                )
            dedup = hashlib.sha256(body.encode()).hexdigest()
        return group, dedup

    # -- receive / delete ----------------------------------------------------------------

    async def receive_from(
        self, queue: Queue, limit: int = 1, wait_s: float = 0, visibility_s: int | None = None
    ) -> list[Message]:
        """Up to `limit` messages; waits up to `wait_s` for the first one, waking as soon as
        one is sent or becomes visible."""
        visibility = queue.int_attr("VisibilityTimeout") if visibility_s is None else visibility_s
        deadline = time.monotonic() + wait_s
        while True:
            now = now_ms()
            taken, moved = self.messages.receive(queue, limit, visibility, now)
            for qid in moved:
                self.signals.notify(qid)
            remaining = deadline - time.monotonic()
            if taken or remaining <= 0:
                return taken
            timeout = remaining
            upcoming = self.messages.next_visible_at(queue, now)
            if upcoming is not None:
                timeout = min(timeout, max(0.0, (upcoming - now_ms()) / 1000) + 0.001)
            await self.signals.wait(queue.qid, timeout)
            queue = self.directory.get(queue.account, queue.region, queue.name)

    async def receive(
        self, account: str, region: str, queue_ref: str, limit: int = 1, wait_s: float = 0
    ) -> list[Message]:
        return await self.receive_from(self.queue(account, region, queue_ref), limit, wait_s)

    def handle(self, queue: Queue, receipt_handle: str) -> Handle:
        parsed = parse_handle(receipt_handle)
        if parsed is None or parsed.qid != queue.qid:
            raise receipt_handle_invalid(receipt_handle)
        return parsed

    def delete(self, account: str, region: str, queue_ref: str, receipt_handle: str) -> None:
        self.delete_from(self.queue(account, region, queue_ref), receipt_handle)

    def delete_from(self, queue: Queue, receipt_handle: str) -> None:
        if not self.messages.delete(queue, [self.handle(queue, receipt_handle)], now_ms())[0]:
            raise expired_handle(receipt_handle)

    def change_visibility(self, queue: Queue, receipt_handle: str, visibility_s: int) -> None:
        if not 0 <= visibility_s <= 43_200:
            raise invalid_value("VisibilityTimeout", visibility_s, "Must be >= 0 and <= 43200, if provided.")
        if not self.messages.change_visibility(
            queue, self.handle(queue, receipt_handle), visibility_s, now_ms()
        ):
            raise invalid_value(
                "ReceiptHandle",
                receipt_handle,
                "Message does not exist or is not available for visibility timeout change.",
            )
        if visibility_s == 0:
            self.signals.notify(queue.qid)

    async def available(self, queue: Queue) -> None:
        """Returns when a message is sent to `queue` or made visible at once (it may be
        taken by another receiver first: receive and wait again)."""
        await self.signals.event(queue.qid).wait()


def expired_handle(receipt_handle: str) -> ServiceError:
    return invalid_value("ReceiptHandle", receipt_handle, "The receipt handle has expired.")


def missing_group() -> ServiceError:
    return sqs_error("MissingParameter", "The request must contain the parameter MessageGroupId.")
