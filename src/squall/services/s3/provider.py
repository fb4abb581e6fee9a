"""The S3 provider: buckets, objects, listings, multipart uploads, lifecycle and restore, as parts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from squall.lib.tasks import Background, Started
from squall.services.base import RequestContext, ServiceProvider
from squall.services.calls import Calls
from squall.services.operations import Operation
from squall.services.ports import FunctionEvents
from squall.services.s3.buckets import Buckets
from squall.services.s3.cors import Cors
from squall.services.s3.data import S3Data
from squall.services.s3.lifecycle import LifecycleWorker
from squall.services.s3.lifecycle_rules import LifecycleConfigs
from squall.services.s3.listing import Listing
from squall.services.s3.models import CALLER, Caller
from squall.services.s3.multipart import Multipart
from squall.services.s3.notify import Notifier
from squall.services.s3.notify_api import Destinations, Notifications
from squall.services.s3.objects import Objects
from squall.services.s3.ports import S3Objects
from squall.services.s3.restore import Restores
from squall.services.s3.tiers import REAL_DAY, Day
from squall.storage import BlobStore, Store

log = logging.getLogger("squall.s3")


class S3Provider(ServiceProvider):
    service = "s3"
    streaming_input = frozenset({"PutObject", "UploadPart"})

    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        *,
        calls: Calls,
        functions: FunctionEvents | None,
        lifecycle_day: float = REAL_DAY,
    ) -> None:
        self.data = S3Data(store, blobs)
        #: Where event notifications go: SQS and SNS through the client, Lambda through its door.
        self.destinations = Destinations(calls, functions)
        self.notifier = Notifier(self.data, self.destinations)
        #: CORS applied (preflights and response headers), for the gateway.
        self.cors = Cors(self.data)
        #: In-process object reads for other services (Lambda code from S3).
        self.objects = S3Objects(self.data)
        day = Day(lifecycle_day)
        self.lifecycle = LifecycleWorker(self.data, day)
        buckets = Buckets(self.data)
        objects = Objects(self.data, buckets, day)
        super().__init__(
            buckets,
            objects,
            Listing(self.data, buckets),
            Multipart(self.data, buckets, objects),
            Notifications(buckets, self.destinations),
            LifecycleConfigs(buckets),
            Restores(self.data, buckets, day, self.lifecycle.wake),
        )

    async def run(self, op: Operation, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        principal = ctx.account_id if (ctx.principal_arn or "").endswith(":root") else (
            f"AWS:{ctx.access_key_id}" if ctx.access_key_id else "Anonymous"
        )  # fmt: skip
        token = CALLER.set(Caller(ctx.request_id, principal))
        try:
            return await super().run(op, ctx, params)
        finally:
            CALLER.reset(token)

    def background(self) -> Sequence[Background]:
        """The data's upkeep first (orphans collected at start, closed last), then the notifier
        and the lifecycle worker."""
        return (_Upkeep(self.data), self.notifier, self.lifecycle)


class _Upkeep:
    """Blobs of uploads cut off before they committed removed at start; the data closed at stop."""

    def __init__(self, data: S3Data) -> None:
        self.data = data

    async def run(self, started: Started) -> None:
        try:
            collected = self.data.collect_orphans()
            if collected:
                log.info("s3: removed %d blobs of uploads cut off before they committed", collected)
            started()
            await asyncio.Future()
        finally:
            self.data.close()
