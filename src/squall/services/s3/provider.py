"""The S3 provider: buckets, objects, listings, multipart uploads, lifecycle and restore, as parts."""

from __future__ import annotations

import logging

from squall.services.base import ServiceProvider
from squall.services.s3.buckets import Buckets
from squall.services.s3.data import S3Data
from squall.services.s3.lifecycle import LifecycleWorker
from squall.services.s3.lifecycle_rules import LifecycleConfigs
from squall.services.s3.listing import Listing
from squall.services.s3.multipart import Multipart
from squall.services.s3.objects import Objects
from squall.services.s3.restore import Restores
from squall.services.s3.tiers import REAL_DAY, Day
from squall.storage import BlobStore, Store

log = logging.getLogger("squall.s3")


class S3Provider(ServiceProvider):
    service = "s3"
    streaming_input = frozenset({"PutObject", "UploadPart"})

    def __init__(self, store: Store, blobs: BlobStore, lifecycle_day: float = REAL_DAY) -> None:
        self.data = S3Data(store, blobs)
        day = Day(lifecycle_day)
        self.lifecycle = LifecycleWorker(self.data, day)
        buckets = Buckets(self.data)
        objects = Objects(self.data, buckets, day)
        super().__init__(
            buckets,
            objects,
            Listing(self.data, buckets),
            Multipart(self.data, buckets, objects),
            LifecycleConfigs(buckets),
            Restores(self.data, buckets, day, self.lifecycle.wake),
        )

    async def start(self) -> None:
        collected = self.data.collect_orphans()
        if collected:
            log.info("s3: removed %d blobs of uploads cut off before they committed", collected)
        self.lifecycle.start()

    async def stop(self) -> None:
        await self.lifecycle.stop()
        self.data.close()
