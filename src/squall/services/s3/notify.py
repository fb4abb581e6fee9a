"""Delivery of S3 event notifications from the durable outbox.

Matching happens when the event is recorded: `data._outbox` evaluates the
bucket's configuration inside the transaction that changes the object and
stores the matching targets with the event, so a configuration changed (or
removed) between the write and the delivery does not change where that event
goes — what AWS promises for an event that already happened — and objects
written to buckets without notifications cost no outbox record.

`Notifier` is a `lib.tasks.Background` component: its `run` wakes when a transaction queued a record
(`S3Data.on_event`), delivers each record in sequence order to its targets,
then deletes it in a transaction. A crash between delivery and deletion
delivers again after restart (at-least-once); the task also drains what a
previous run left. A destination that refuses (gone, no permission) drops
that delivery with a warning, as S3 does.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote_plus

import orjson

from squall.lib.tasks import Started
from squall.protocol.errors import ServiceError
from squall.protocol.serializers.restxml import host_id
from squall.services.s3 import models as m
from squall.services.s3.data import S3Data
from squall.services.s3.models import ObjectEvent
from squall.services.s3.notify_api import Destinations, bucket_arn, iso_time, s3_principal, send_to

log = logging.getLogger("squall.s3")
_BATCH = 64


def event_record(event: ObjectEvent, configuration_id: str) -> dict[str, Any]:
    """One entry of `Records`, as S3 sends it."""
    obj: dict[str, Any] = {"key": quote_plus(event.key, safe="/")}
    if event.event.startswith("ObjectCreated"):
        obj["size"] = event.size
        obj["eTag"] = event.etag.strip('"')
    if event.version_id is not None:
        obj["versionId"] = event.version_id
    obj["sequencer"] = event.sequencer
    record: dict[str, Any] = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": event.region,
        "eventTime": iso_time(event.time),
        "eventName": event.event,
        "userIdentity": {"principalId": event.principal},
        "requestParameters": {"sourceIPAddress": event.source_ip},
        "responseElements": {
            "x-amz-request-id": event.request_id,
            "x-amz-id-2": host_id(event.request_id),
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id,
            "bucket": {
                "name": event.bucket,
                "ownerIdentity": {"principalId": event.account},
                "arn": bucket_arn(event.bucket),
            },
            "object": obj,
        },
    }
    if event.restore is not None:  # AWS: only in s3:ObjectRestore:Completed records
        record["glacierEventData"] = {
            "restoreEventData": {
                "lifecycleRestorationExpiryTime": iso_time(event.restore["expiry"]),
                "lifecycleRestoreStorageClass": event.restore["storage_class"],
            }
        }
    return record


class Notifier:
    def __init__(self, data: S3Data, targets: Destinations) -> None:
        self.data = data
        self.targets = targets
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self, started: Started) -> None:
        """Deliver queued records (those a previous run left first) until cancelled."""
        self._loop = asyncio.get_running_loop()
        self.data.on_event = self.poke
        try:
            started()
            await self._work()
        finally:
            self.data.on_event = None
            self._loop = None

    def poke(self) -> None:
        """A record was queued (callable from any thread)."""
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def _work(self) -> None:
        while True:
            self._wake.clear()
            with self.data.store.read() as r:
                batch = list(r.scan(m.OUTBOX, limit=_BATCH))
            if not batch:
                await self._wake.wait()
                continue
            for raw_key, raw in batch:
                try:
                    await self.deliver(ObjectEvent.load(raw))
                except Exception:
                    log.exception("s3: delivering an event failed; it is dropped")
                with self.data.store.write() as w:
                    w.delete(m.OUTBOX, raw_key)
            await asyncio.sleep(0)

    async def deliver(self, event: ObjectEvent) -> None:
        for target in event.targets:
            body = orjson.dumps({"Records": [event_record(event, target["id"])]})
            try:
                await self._send(event, target["kind"], target["arn"], body)
            except ServiceError as err:
                log.warning("s3: event for %s/%s not delivered to %s: %s", event.bucket, event.key,
                            target["arn"], err.message)  # fmt: skip

    async def _send(self, event: ObjectEvent, kind: str, arn: str, body: bytes) -> None:
        parts = arn.split(":")
        region = parts[3] if len(parts) >= 6 else event.region
        principal = s3_principal(event.bucket, event.account)
        if kind == "lambda":
            if self.targets.functions is None:
                raise ServiceError("ServiceUnavailable", "Lambda is not available", 503)
            self.targets.functions.submit(principal, arn, body, region=region or event.region)
        else:
            await send_to(self.targets.calls, principal, kind, arn, region, body.decode())
