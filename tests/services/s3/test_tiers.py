"""Units: the scaled lifecycle day grid, restore headers and archive readability."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from squall.services.s3.models import ObjectVersion
from squall.services.s3.tiers import Day, coldness, readable, restore_header


def test_real_days_round_up_to_midnight_utc() -> None:
    day = Day()
    created = datetime(2026, 3, 1, 15, 30, tzinfo=UTC).timestamp()
    assert day.due(created, 30) == datetime(2026, 4, 1, tzinfo=UTC).timestamp()
    midnight = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
    assert day.due(midnight, 1) == datetime(2026, 3, 2, tzinfo=UTC).timestamp()


def test_scaled_days_use_the_same_grid() -> None:
    day = Day(2.0)
    assert day.due(101.0, 3) == 108.0  # 107 rounded up to the next multiple of 2
    assert day.next_boundary(108.0) == 110.0
    assert day.scaled(86400.0) == 2.0
    with pytest.raises(ValueError):
        Day(0)


def test_restore_states() -> None:
    glacier = ObjectVersion(key="k", version_id="null", seq=1, last_modified=0.0, storage_class="GLACIER")
    assert not readable(glacier, 10.0) and restore_header(glacier, 10.0) is None
    restoring = ObjectVersion(**{**glacier.__dict__, "restore": {"ready": 100.0, "expiry": 86400.0 * 3}})
    assert restore_header(restoring, 50.0) == 'ongoing-request="true"' and not readable(restoring, 50.0)
    assert restore_header(restoring, 100.0) == (
        'ongoing-request="false", expiry-date="Sun, 04 Jan 1970 00:00:00 GMT"'
    )
    assert readable(restoring, 100.0)
    assert restore_header(restoring, 86400.0 * 3) is None and not readable(restoring, 86400.0 * 3)
    assert readable(ObjectVersion(key="k", version_id="null", seq=1, last_modified=0.0), 0.0)


def test_coldness_order() -> None:
    assert coldness("STANDARD") < coldness("STANDARD_IA") < coldness("GLACIER_IR") < coldness("GLACIER")
    assert coldness("GLACIER") < coldness("DEEP_ARCHIVE")
