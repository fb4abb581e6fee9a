"""Storage tiers in time: the (scaled) lifecycle day, archive reads, restore timing and headers.

Time scaling. One lifecycle "day" lasts `day` seconds (`SQUALL_LIFECYCLE_DAY_SECONDS`,
86,400 by default). Days are counted on a grid anchored at the Unix epoch: day boundary n is
at `n * day` seconds. AWS computes a due time as "creation time + N days, rounded up to the
next midnight UTC"; here it is `creation + N * day` rounded up to the next boundary of that
grid (`Day.due`), which is exactly AWS's rule when `day` is 86,400 (midnight UTC is a multiple
of 86,400 since the epoch). Absolute dates in rules (`Date`) are not scaled.

Restore times are AWS's upper figures scaled by `day / 86400`; the restored copy stays
`Days` scaled days, its expiry rounded up the same way.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import format_datetime

from squall.protocol.errors import ServiceError
from squall.services.s3 import models as m
from squall.services.s3.models import ObjectVersion

REAL_DAY = 86400.0

#: Seconds a restore takes on AWS, by (storage class, tier): the upper end of AWS's ranges.
RESTORE_SECONDS = {
    ("GLACIER", "Expedited"): 5 * 60.0,
    ("GLACIER", "Standard"): 5 * 3600.0,
    ("GLACIER", "Bulk"): 12 * 3600.0,
    ("DEEP_ARCHIVE", "Standard"): 12 * 3600.0,
    ("DEEP_ARCHIVE", "Bulk"): 48 * 3600.0,
}

#: How "cold" a class is: lifecycle transitions only go down this list (AWS's waterfall).
_ORDER = ("STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "INTELLIGENT_TIERING", "ONEZONE_IA",
          "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE")  # fmt: skip


def coldness(storage_class: str) -> int:
    return _ORDER.index(storage_class) if storage_class in _ORDER else 0


class Day:
    """The lifecycle day length and the date arithmetic on its grid."""

    def __init__(self, seconds: float = REAL_DAY) -> None:
        if seconds <= 0:
            raise ValueError("a lifecycle day must last a positive number of seconds")
        self.seconds = seconds

    def due(self, start: float, days: int) -> float:
        """`start + days` days, rounded up to the next day boundary (AWS: next midnight UTC)."""
        return math.ceil((start + days * self.seconds) / self.seconds) * self.seconds

    def next_boundary(self, now: float) -> float:
        return (math.floor(now / self.seconds) + 1) * self.seconds

    def scaled(self, real_seconds: float) -> float:
        return real_seconds * self.seconds / REAL_DAY


def http_date(epoch: float) -> str:
    return format_datetime(datetime.fromtimestamp(epoch, UTC), usegmt=True)


def restore_header(version: ObjectVersion, now: float) -> str | None:
    """The `x-amz-restore` value of a version (None: no restore asked for, or expired)."""
    restore = version.restore
    if restore is None or now >= restore["expiry"]:
        return None
    if now < restore["ready"]:
        return 'ongoing-request="true"'
    return f'ongoing-request="false", expiry-date="{http_date(restore["expiry"])}"'


def readable(version: ObjectVersion, now: float) -> bool:
    """False for an archived version without a completed, unexpired restore."""
    if version.storage_class not in m.ARCHIVE_CLASSES:
        return True
    restore = version.restore
    return restore is not None and restore["ready"] <= now < restore["expiry"]


def invalid_object_state(version: ObjectVersion) -> ServiceError:
    return ServiceError(
        "InvalidObjectState",
        "The operation is not valid for the object's storage class",
        403,
        fields={"StorageClass": version.storage_class},
    )


def not_in_active_tier() -> ServiceError:
    return ServiceError(
        "ObjectNotInActiveTierError",
        "The source object of the COPY operation is not in the active tier and is only stored in "
        "Amazon Glacier.",
        403,
    )
