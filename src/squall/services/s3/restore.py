"""RestoreObject: a temporary readable copy of a GLACIER / DEEP_ARCHIVE version.

State lives on the version (`ObjectVersion.restore`: ready and expiry times, absolute, so a
restore survives a restart) plus an index entry in `s3.restore` the lifecycle worker follows
to emit ObjectRestore:Completed when `ready` passes and ObjectRestore:Delete (dropping the
restore) when `expiry` passes. Reads decide from the times alone (`tiers.readable`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext
from squall.services.operations import operation
from squall.services.s3 import models as m
from squall.services.s3.buckets import Buckets
from squall.services.s3.data import S3Data
from squall.services.s3.lifecycle_rules import malformed
from squall.services.s3.models import ObjectVersion
from squall.services.s3.tiers import RESTORE_SECONDS, Day
from squall.storage import WriteTxn

_TIERS = ("Expedited", "Standard", "Bulk")


def _in_progress() -> ServiceError:
    return ServiceError("RestoreAlreadyInProgress", "Object restore is already in progress", 409)


class Restores:
    def __init__(self, data: S3Data, buckets: Buckets, day: Day, wake: Callable[[], None]) -> None:
        self.data = data
        self.buckets = buckets
        self.day = day
        self.wake = wake

    @operation("RestoreObject")
    def restore_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.buckets.owned(ctx, params["Bucket"], params.get("Key"))
        version = self.data.find(bucket.name, params["Key"], params.get("VersionId"))
        if version.delete_marker:
            raise m.method_not_allowed("POST", "DeleteMarker")
        if version.storage_class not in m.ARCHIVE_CLASSES:
            raise ServiceError(
                "InvalidObjectState",
                "Restore is not allowed for the object's current storage class",
                403,
                fields={"StorageClass": version.storage_class},
            )
        request = params.get("RestoreRequest") or {}
        if request.get("Type") is not None:
            raise m.invalid_argument("SELECT restore requests are not supported", "Type", request["Type"])
        days = request.get("Days")
        if days is None:
            raise malformed()
        if days < 1:
            raise m.invalid_argument("Days must be a positive integer", "Days", str(days))
        tier = (request.get("GlacierJobParameters") or {}).get("Tier") or request.get("Tier") or "Standard"
        if tier not in _TIERS:
            raise malformed()
        seconds = RESTORE_SECONDS.get((version.storage_class, tier))
        if seconds is None:
            raise m.invalid_argument(
                f"{tier} retrievals are not available for the {version.storage_class} storage class",
                "Tier",
                tier,
            )
        now = time.time()
        started: list[bool] = []

        def change(stored: ObjectVersion, w: WriteTxn) -> tuple[ObjectVersion, str | None]:
            restore = stored.restore
            vkey = m.version_key(bucket.name, stored.key, stored.seq)
            if restore is not None and now < restore["ready"]:
                raise _in_progress()
            if restore is not None and now < restore["expiry"]:
                extended = {**restore, "expiry": self.day.due(now, days), "days": days}
                return ObjectVersion(**{**stored.__dict__, "restore": extended}), None
            ready = now + self.day.scaled(seconds)
            new = {"ready": ready, "expiry": self.day.due(ready, days), "days": days, "tier": tier}
            w.put(m.RESTORES, vkey, b"ongoing")
            started.append(True)
            return ObjectVersion(**{**stored.__dict__, "restore": new}), "ObjectRestore:Post"

        if self.data.amend(bucket, version, change) is None:
            raise m.no_such_key(params["Key"])
        self.wake()
        return {"__status__": 202 if started else 200}
