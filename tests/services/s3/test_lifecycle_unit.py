"""Units: the lifecycle worker's passes over a real store (idempotent, no event twice)."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from squall.services.s3 import models as m
from squall.services.s3.data import S3Data
from squall.services.s3.lifecycle import LifecycleWorker
from squall.services.s3.lifecycle_rules import check_rule
from squall.services.s3.models import Bucket, ObjectVersion
from squall.services.s3.tiers import Day
from squall.storage import BlobStore, SQLiteStore

DAY = 10.0


#: A notification configuration that sends every lifecycle and restore event somewhere: events are only
#: written to the outbox when a configuration matches them (nothing delivers them in these unit tests).
EVERYTHING = {
    "QueueConfigurations": [
        {
            "Id": "all",
            "QueueArn": "arn:aws:sqs:us-east-1:000000000000:q",
            "Events": [
                "s3:LifecycleTransition",
                "s3:LifecycleExpiration:*",
                "s3:ObjectRestore:*",
                "s3:ObjectRemoved:*",
            ],
        }
    ]
}


@pytest.fixture
def data(tmp_path: Path) -> Iterator[S3Data]:
    store = SQLiteStore(tmp_path / "db.sqlite")
    d = S3Data(store, BlobStore(tmp_path / "blobs"), io_threads=2)
    yield d
    d.close()
    store.close()


def _bucket(data: S3Data, rules: list[dict[str, Any]], versioning: str = "") -> Bucket:
    bucket = Bucket("b", "000000000000", "us-east-1", 0.0, versioning=versioning,
                    lifecycle={"rules": [check_rule(r) for r in rules], "min_size": "all_storage_classes_128K"},
                    notification=EVERYTHING)  # fmt: skip
    data.save_bucket(bucket)
    return bucket


def _put(data: S3Data, bucket: Bucket, key: str, at: float, size: int = 200_000) -> ObjectVersion:
    version = ObjectVersion(
        key=key, version_id=data.new_version_id(bucket), seq=0, last_modified=at, size=size
    )
    return data.commit_version(bucket, version, "ObjectCreated:Put")


def _events(data: S3Data) -> Counter[tuple[str, str]]:
    with data.store.read() as r:
        records = [orjson.loads(v) for _, v in r.scan(m.OUTBOX)]
    return Counter((e["event"], e["key"]) for e in records if not e["event"].startswith("ObjectCreated"))


def test_passes_are_idempotent(data: S3Data) -> None:
    rules = [{"ID": "t", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 100},
              "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}, {"Days": 60, "StorageClass": "GLACIER"}]}]  # fmt: skip
    bucket = _bucket(data, rules)
    _put(data, bucket, "a", 0.0)
    _put(data, bucket, "b", 0.0)
    worker = LifecycleWorker(data, Day(DAY))
    worker.run_once(35 * DAY)
    worker.run_once(35 * DAY)  # the same pass again, as after a crash: nothing more happens
    assert data.current("b", "a").storage_class == "STANDARD_IA"  # type: ignore[union-attr]
    assert _events(data) == {("LifecycleTransition", "a"): 1, ("LifecycleTransition", "b"): 1}
    worker.run_once(99 * DAY)  # straight to the coldest due class
    assert data.current("b", "a").storage_class == "GLACIER"  # type: ignore[union-attr]
    worker.run_once(101 * DAY)
    worker.run_once(101 * DAY)
    assert data.current("b", "a") is None
    assert _events(data) == {("LifecycleTransition", "a"): 2, ("LifecycleTransition", "b"): 2,
                             ("LifecycleExpiration:Delete", "a"): 1, ("LifecycleExpiration:Delete", "b"): 1}  # fmt: skip


def test_due_times_follow_the_day_grid(data: S3Data) -> None:
    bucket = _bucket(data, [{"ID": "e", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 2}}])
    _put(data, bucket, "k", 3.0)  # due at 3 + 20 = 23, rounded up to 30
    worker = LifecycleWorker(data, Day(DAY))
    worker.run_once(29.9)
    assert data.current("b", "k") is not None
    worker.run_once(30.0)
    assert data.current("b", "k") is None


def test_noncurrent_versions_keep_the_newest(data: S3Data) -> None:
    rules = [{"ID": "n", "Status": "Enabled", "Filter": {"Prefix": "d"},
              "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 2}}]  # fmt: skip
    bucket = _bucket(data, rules, versioning="Enabled")
    for i in range(5):
        _put(data, bucket, "doc", i * DAY)
    _put(data, bucket, "other", 0.0)
    LifecycleWorker(data, Day(DAY)).run_once(100 * DAY)
    assert len(data.versions("b", "doc")) == 3  # the current one and the two newest noncurrent
    assert len(data.versions("b", "other")) == 1
    assert _events(data) == {("LifecycleExpiration:Delete", "doc"): 2}


def test_disabled_rules_and_small_objects_do_nothing(data: S3Data) -> None:
    rules = [{"ID": "off", "Status": "Disabled", "Filter": {}, "Expiration": {"Days": 1}},
             {"ID": "t", "Status": "Enabled", "Filter": {}, "Transitions": [{"Days": 0, "StorageClass": "GLACIER"}]}]  # fmt: skip
    bucket = _bucket(data, rules)
    _put(data, bucket, "small", 0.0, size=10)
    LifecycleWorker(data, Day(DAY)).run_once(time.time())
    assert data.current("b", "small").storage_class == "STANDARD"  # type: ignore[union-attr]
    small_ok = dataclasses.replace(
        bucket, lifecycle={**(bucket.lifecycle or {}), "min_size": "varies_by_storage_class"}
    )
    data.save_bucket(small_ok)
    LifecycleWorker(data, Day(DAY)).run_once(time.time())
    assert data.current("b", "small").storage_class == "GLACIER"  # type: ignore[union-attr]
