"""What SQS offers other services in process: `SqsFeed`, the `ports.QueueFeed` Lambda's SQS
event source mapping polls (the hot path of an SQS mapping: no validation or dispatch per batch,
the same receive, long-poll wake-ups, visibility and redrive as ReceiveMessage).

Everything else other services do with queues (SNS and S3 sending to them, Lambda destinations
and dead-letter queues, checking that a queue exists) goes through the in-process client
(`SendMessage`, `GetQueueUrl`, ...).
"""

from __future__ import annotations

from collections.abc import Sequence

from squall.services.context import Principal
from squall.services.ports import QueuedMessage
from squall.services.sqs import access
from squall.services.sqs.api_messages import system_attributes
from squall.services.sqs.messages import Handle, Message
from squall.services.sqs.messaging import SqsQueues, now_ms
from squall.services.sqs.queues import Queue

#: the envelope a record adds to its body and attributes, roughly (for the 6 MB payload limit)
RECORD_OVERHEAD = 1024


class SqsFeed:
    def __init__(self, queues: SqsQueues) -> None:
        self._queues = queues

    def open(self, principal: Principal, queue_arn: str) -> FeedQueue:
        queue = self._queues.queue(principal.account_id, "", queue_arn)
        access.check(principal, queue, "ReceiveMessage")
        return FeedQueue(self._queues, queue, principal)


class FeedQueue:
    """One queue, as the mapping's poller sees it: polled as `principal` (the mapping's function's
    execution role), whose access is checked on every receive, so that a queue policy that no
    longer grants another account stops its mapping at the next batch (the check is a string
    comparison for the queue's own account, a memoised decision for another)."""

    def __init__(self, queues: SqsQueues, queue: Queue, principal: Principal) -> None:
        self._queues = queues
        self._queue = queue
        self._principal = principal
        self.arn = queue.arn
        self.region = queue.region
        self.fifo = queue.fifo

    @property
    def visibility_timeout(self) -> int:
        return self._current().int_attr("VisibilityTimeout")

    def _current(self) -> Queue:
        """The queue's latest record (its visibility timeout or redrive policy may have changed)."""
        return self._queues.directory.get(self._queue.account, self._queue.region, self._queue.name)

    async def receive(self, limit: int, wait_s: float) -> Sequence[QueuedMessage]:
        queue = self._current()
        self._queue = queue
        if queue.account == self._principal.account_id:
            return [_received(queue, m) for m in await self._queues.receive_from(queue, limit, wait_s)]
        access.check(self._principal, queue, "ReceiveMessage")
        got = [_received(queue, m) for m in await self._queues.receive_from(queue, limit, wait_s)]
        # checked again after a long poll: a grant withdrawn meanwhile releases what it brought
        if got and not access.may(self._principal, self._current(), "ReceiveMessage"):
            self.release(got)
            access.check(self._principal, self._current(), "ReceiveMessage")
        return got

    def release(self, messages: Sequence[QueuedMessage]) -> None:
        now = now_ms()
        store = self._queues.messages
        for msg in messages:
            store.change_visibility(self._queue, msg.handle, 0, now)
        self._queues.signals.notify(self._queue.qid)

    def delete(self, messages: Sequence[QueuedMessage]) -> None:
        if messages:
            self._queues.messages.delete(self._queue, [m.handle for m in messages], now_ms())


def _received(queue: Queue, msg: Message) -> QueuedMessage:
    return QueuedMessage(
        message_id=msg.id,
        receipt_handle=msg.handle(queue.qid),
        body=msg.body,
        md5_of_body=msg.md5_body,
        md5_of_message_attributes=msg.md5_attributes or None,
        attributes=system_attributes(queue, msg),
        message_attributes=msg.attributes,
        group=msg.group,
        size=len(msg.body.encode())
        + RECORD_OVERHEAD
        + sum(len(n) + sum(len(v) for v in a.values()) for n, a in msg.attributes.items()),
        handle=Handle(queue.qid, msg.seq, msg.token),
    )
