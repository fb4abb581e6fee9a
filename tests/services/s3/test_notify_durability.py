"""At-least-once delivery across kill -9: an object written is an event delivered."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

from squall.services.s3 import models as m
from squall.services.s3.data import S3Data
from squall.services.s3.models import Bucket, ObjectVersion
from squall.storage import DataDir
from tests.conftest import RunningServer, start_server
from tests.services.s3.test_notifications import drain, queue_config


def _configure(srv: RunningServer, bucket: str) -> tuple[Any, Any, str]:
    s3, sqs = srv.client("s3"), srv.client("sqs")
    s3.create_bucket(Bucket=bucket)
    url = sqs.create_queue(QueueName="events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"QueueConfigurations": [queue_config(arn, ["s3:ObjectCreated:*"])]},
    )
    drain(sqs, url, 1)  # the test event
    return s3, sqs, url


def _keys(bodies: list[dict[str, Any]]) -> set[str]:
    return {r["s3"]["object"]["key"] for b in bodies for r in b.get("Records", [])}


def test_event_committed_before_a_crash_is_delivered_after_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    srv = start_server(data_dir)
    try:
        _configure(srv, "crash-events")
    finally:
        srv.stop(signal.SIGKILL)

    # What a kill -9 right after PutObject committed (before the notifier ran) leaves behind:
    # the object and its outbox record, written by the same code path, in one transaction.
    async def put_offline() -> None:
        with DataDir.open(data_dir) as dd:
            data = S3Data(dd.store, dd.blobs)
            bucket = data.bucket("crash-events")
            writer = await data.write_body(b"written, never announced")
            version = ObjectVersion(
                key="pending", version_id="null", seq=0, last_modified=time.time(),
                etag=f'"{writer.md5_hex}"', size=writer.size, parts=[(writer.id, writer.size)],
            )  # fmt: skip
            data.commit_version(bucket, version, "ObjectCreated:Put")
            data.close()
            with dd.store.read() as r:
                assert len(list(r.scan(m.OUTBOX))) == 1
            assert isinstance(bucket, Bucket) and bucket.notification

    asyncio.run(put_offline())
    srv = start_server(data_dir)
    try:
        sqs = srv.client("sqs")
        url = sqs.get_queue_url(QueueName="events")["QueueUrl"]
        (body,) = drain(sqs, url, 1)
        (record,) = body["Records"]
        assert record["eventName"] == "ObjectCreated:Put" and record["s3"]["object"]["key"] == "pending"
        assert record["s3"]["object"]["size"] == len(b"written, never announced")
    finally:
        srv.stop()
    with DataDir.open(data_dir) as dd, dd.store.read() as r:
        assert list(r.scan(m.OUTBOX)) == []  # delivered, then deleted


def test_burst_then_kill_every_object_announced(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    srv = start_server(data_dir)
    written = [f"obj-{i:03d}" for i in range(60)]
    try:
        s3, _, _ = _configure(srv, "burst-events")
        for key in written:
            s3.put_object(Bucket="burst-events", Key=key, Body=key.encode())
    finally:
        srv.stop(signal.SIGKILL)
    srv = start_server(data_dir)
    try:
        sqs = srv.client("sqs")
        url = sqs.get_queue_url(QueueName="events")["QueueUrl"]
        bodies = drain(sqs, url, len(written), timeout=30)
        assert _keys(bodies) == set(written)  # at least once: duplicates allowed, none missing
        assert all(json.dumps(b).count("ObjectCreated:Put") == 1 for b in bodies)
    finally:
        srv.stop()
