"""The delivery worker: takes outbox records when due and delivers them (SQS and Lambda in process,
HTTP/S by POST with the subscription's retry policy), then removes them; undeliverable notifications
go to the subscription's dead-letter queue (RedrivePolicy) or are dropped.

A `lib.tasks.Background` component: `run` loads the records a previous run left (so an acknowledged
Publish is delivered after a crash, at least once), then works until cancelled, woken by `notify()`
(thread-safe) or by the next due retry; each HTTP/S attempt is a child task of its TaskGroup.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import heapq
import json
import logging
import time
from typing import Any

from squall.lib.tasks import Started, spawn
from squall.protocol.errors import ServiceError
from squall.services.calls import Calls
from squall.services.context import Principal
from squall.services.ports import FunctionEvents, queue_url
from squall.services.sns import httpclient
from squall.services.sns.envelope import Envelopes, http_headers
from squall.services.sns.messages import Message
from squall.services.sns.outbox import Delivery, Outbox
from squall.services.sns.policies import RetryPolicy, retry_policy_for
from squall.services.sns.records import Directory, Subscription, parse_topic_arn
from squall.storage import StorageFull

log = logging.getLogger("squall.sns")


SNS_PRINCIPAL = "sns.amazonaws.com"


def topic_principal(topic_arn: str) -> Principal:
    """SNS acting for a topic (its owner's account), as it calls SQS and Lambda."""
    parts = topic_arn.split(":")
    return Principal.for_service(SNS_PRINCIPAL, parts[4] if len(parts) > 4 else "", source_arn=topic_arn)


def sqs_attributes(attributes: dict[str, dict[str, str]] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, attr in (attributes or {}).items():
        if attr["Type"].startswith("Binary"):
            out[name] = {"DataType": attr["Type"], "BinaryValue": base64.b64decode(attr["Value"])}
        else:
            out[name] = {"DataType": attr["Type"], "StringValue": attr["Value"]}
    return out


class DeliveryWorker:
    def __init__(
        self,
        outbox: Outbox,
        directory: Directory,
        envelopes: Envelopes,
        calls: Calls,
        functions: FunctionEvents | None,
        *,
        delay_scale: float = 1.0,
        http_concurrency: int = 32,
    ) -> None:
        self.outbox = outbox
        self.directory = directory
        self.envelopes = envelopes
        #: SQS is reached through the in-process client (SendMessage as sns.amazonaws.com).
        self.calls = calls
        self.functions = functions
        self.delay_scale = delay_scale
        self._heap: list[tuple[float, int, Delivery]] = []
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._group: asyncio.TaskGroup | None = None  # while running: the HTTP/S attempts
        self._http_slots = asyncio.Semaphore(http_concurrency)

    async def run(self, started: Started) -> None:
        """Load what a previous run left, then deliver until cancelled."""
        self._loop = asyncio.get_running_loop()
        with contextlib.suppress(StorageFull):  # a full disk: sweep next start, serve reads now
            self.outbox.sweep_dedup()
        for d in self.outbox.pending():
            heapq.heappush(self._heap, (d.due, d.seq, d))
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                started()
                await self._work()
        finally:
            self._group = None
            self._loop = None

    def notify(self, deliveries: list[Delivery]) -> None:
        """Hand newly committed records to the worker (from any thread; before start() they are
        picked up from the store when `run` starts)."""
        if self._loop is None or not deliveries:
            return
        self._loop.call_soon_threadsafe(self._push, deliveries)

    def _push(self, deliveries: list[Delivery]) -> None:
        for d in deliveries:
            heapq.heappush(self._heap, (d.due, d.seq, d))
        self._wake.set()

    async def _work(self) -> None:
        while True:
            self._wake.clear()
            now = time.time()
            done: list[Delivery] = []  # finished in process: removed together, once per round
            while self._heap and self._heap[0][0] <= now and len(done) < 256:
                _, _, d = heapq.heappop(self._heap)
                try:
                    if await self._dispatch(d):
                        done.append(d)
                except Exception:
                    log.exception("SNS delivery %s failed unexpectedly; dropped", d.seq)
                    done.append(d)
            if done:
                self.outbox.finish(*done)
            if self._heap and self._heap[0][0] <= time.time():
                await asyncio.sleep(0)  # more are due: let the loop breathe, then go on
                continue
            delay = self._heap[0][0] - time.time() if self._heap else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def _dispatch(self, d: Delivery) -> bool:
        """Deliver `d`; True when it is done (for the caller to remove), False when an HTTP task owns it."""
        loaded = self.outbox.load(d)
        if loaded is None:
            return False
        d, msg = loaded
        if d.kind != "Notification":
            self._spawn_http(d, Subscription(**(d.subscription or {})), None)
            return False
        sub = self.directory.find_subscription(d.sub_arn)
        if sub is None or msg is None:
            return True  # unsubscribed or topic deleted meanwhile
        if sub.protocol in ("http", "https"):
            self._spawn_http(d, sub, msg)
            return False
        try:
            if sub.protocol == "sqs":
                await self._to_sqs(sub, msg)
            elif sub.protocol == "lambda":
                self._to_lambda(sub, msg)
            # email, email-json, sms, application, firehose: recorded only, nothing is sent.
        except ServiceError as err:
            log.info("SNS delivery to %s failed: %s %s", sub.endpoint, err.code, err.message)
            await self._dead_letter(sub, msg)
        return True

    def _version(self, topic_arn: str) -> str:
        parsed = parse_topic_arn(topic_arn)
        topic = self.directory.find_topic(*parsed) if parsed else None
        return topic.attributes.get("SignatureVersion", "1") if topic else "1"

    def _body(self, sub: Subscription, msg: Message) -> tuple[str, dict[str, Any] | None]:
        if sub.raw:
            return msg.body_for(sub.protocol), sqs_attributes(msg.delivered_attributes)
        return json.dumps(self.envelopes.notification(msg, sub, self._version(msg.topic_arn))), None

    async def _send_sqs(self, queue_arn: str, body: str, attrs: dict[str, Any] | None, msg: Message) -> None:
        params: dict[str, Any] = {"QueueUrl": queue_url(queue_arn), "MessageBody": body}
        if attrs:
            params["MessageAttributes"] = attrs
        if queue_arn.endswith(".fifo"):
            if msg.group is not None:
                params["MessageGroupId"] = msg.group
            if msg.dedup is not None:
                params["MessageDeduplicationId"] = msg.dedup
        region = queue_arn.split(":")[3] if queue_arn.count(":") >= 5 else ""
        await self.calls.call(topic_principal(msg.topic_arn), "sqs", "SendMessage", params, region=region)

    async def _to_sqs(self, sub: Subscription, msg: Message) -> None:
        body, attrs = self._body(sub, msg)
        await self._send_sqs(sub.endpoint, body, attrs, msg)

    def _to_lambda(self, sub: Subscription, msg: Message) -> None:
        if self.functions is None:
            raise ServiceError("InternalError", "Lambda is not available", 500)
        payload = self.envelopes.lambda_event(msg, sub, self._version(msg.topic_arn))
        region = sub.endpoint.split(":")[3] if sub.endpoint.count(":") >= 5 else ""
        self.functions.submit(topic_principal(msg.topic_arn), sub.endpoint, payload, region=region)

    async def _dead_letter(self, sub: Subscription, msg: Message) -> None:
        policy = sub.attributes.get("RedrivePolicy")
        if not policy:
            return
        target = json.loads(policy)["deadLetterTargetArn"]
        body, attrs = self._body(sub, msg)
        try:
            await self._send_sqs(target, body, attrs, msg)
        except ServiceError as err:
            log.warning("SNS dead-letter queue %s refused a message: %s", target, err.message)

    # -- HTTP/S ---------------------------------------------------------------------------

    def _spawn_http(self, d: Delivery, sub: Subscription, msg: Message | None) -> None:
        assert self._group is not None  # (dispatched by `_work` only)
        spawn(self._group, self._http_attempt(d, sub, msg), f"sns-http-{d.seq}")

    async def _http_attempt(self, d: Delivery, sub: Subscription, msg: Message | None) -> None:
        version = self._version(sub.topic_arn)
        policy, content_type = RetryPolicy(), "text/plain; charset=UTF-8"
        if msg is None:
            doc = self.envelopes.confirmation(d.kind, sub, version)
            body, message_id = json.dumps(doc), doc["MessageId"]
        else:
            parsed = parse_topic_arn(sub.topic_arn)
            topic = self.directory.find_topic(*parsed) if parsed else None
            topic_policy = topic.attributes.get("DeliveryPolicy") if topic else None
            policy, content_type = retry_policy_for(topic_policy, sub.attributes.get("DeliveryPolicy"))
            body, message_id = self._body(sub, msg)[0], msg.id
        headers = http_headers(d.kind, message_id, sub.topic_arn, sub, content_type)
        try:
            async with self._http_slots:
                status = await httpclient.post(sub.endpoint, headers, body.encode())
            ok = 200 <= status < 500
        except Exception as exc:  # transport, TLS, protocol or URL errors: a failed attempt
            log.info("SNS POST to %s failed: %r", sub.endpoint, exc)
            ok = False
        delay = None if ok else policy.delay(d.attempt + 1)
        if delay is not None:
            again = self.outbox.reschedule(d, d.attempt + 1, time.time() + delay * self.delay_scale)
            self._push([again])
            return
        if not ok and msg is not None:
            await self._dead_letter(sub, msg)
        self.outbox.finish(d)
