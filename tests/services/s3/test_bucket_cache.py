"""S3Data's in-memory bucket cache: every committed bucket write is seen at once, by
lookups and by the notification outbox of the next object commit."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from squall.protocol.errors import ServiceError
from squall.services.s3 import models as m
from squall.services.s3.data import S3Data
from squall.services.s3.models import Bucket, ObjectVersion
from squall.storage import DataDir

QUEUE = {
    "QueueConfigurations": [
        {"QueueArn": "arn:aws:sqs:us-east-1:000000000000:q", "Events": ["s3:ObjectCreated:*"], "Id": "n1"}
    ]
}


def _version(key: str) -> ObjectVersion:
    return ObjectVersion(key=key, version_id="null", seq=0, last_modified=time.time(), etag='"e"', size=0,
                         parts=[], content_type="binary/octet-stream")  # fmt: skip


def _outbox_count(data: S3Data) -> int:
    with data.store.read() as r:
        return r.count(m.OUTBOX)


def test_bucket_writes_invalidate_the_cache(tmp_path: Path) -> None:
    with DataDir.open(tmp_path / "d") as dd:
        data = S3Data(dd.store, dd.blobs)
        try:
            with pytest.raises(ServiceError):
                data.bucket("bkt")  # a miss is cached too
            bucket = Bucket("bkt", "000000000000", "us-east-1", time.time())
            data.save_bucket(bucket)
            assert data.bucket("bkt") == bucket
            assert data.bucket("bkt") is data.bucket("bkt")  # served from memory

            data.commit_version(bucket, _version("a"), "ObjectCreated:Put")
            assert _outbox_count(data) == 0
            data.save_bucket(dataclasses.replace(bucket, versioning="Enabled", notification=QUEUE))
            assert data.bucket("bkt").versioning == "Enabled"
            data.commit_version(bucket, _version("b"), "ObjectCreated:Put")
            assert _outbox_count(data) == 1  # the new configuration, not the cached one

            with data.store.write() as w:  # a write outside save_bucket (DeleteBucket does so)
                w.delete(m.BUCKETS, m.bucket_key("bkt"))
            with pytest.raises(ServiceError):
                data.bucket("bkt")
            data.commit_version(bucket, _version("c"), "ObjectCreated:Put")
            assert _outbox_count(data) == 1
            with data.store.read() as r:
                assert r.get(m.CURRENT, m.object_prefix("bkt", "c")) is not None
        finally:
            data.close()
