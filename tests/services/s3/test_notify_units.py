"""Notifications in process, with a test double for SNS behind the in-process client: topic
validation, the TestEvent and event delivery with SNS's subject (as s3.amazonaws.com acting for
the bucket), matching rules, the record encoding."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from squall.lib.tasks import running
from squall.protocol.errors import ServiceError
from squall.services.calls import Calls
from squall.services.context import Principal, PrincipalKind, RequestContext
from squall.services.s3.buckets import Buckets
from squall.services.s3.data import S3Data
from squall.services.s3.models import Bucket, ObjectEvent, ObjectVersion
from squall.services.s3.notify import Notifier, event_record
from squall.services.s3.notify_api import Destinations, Notifications
from squall.services.s3.notify_config import expand, normalize, targets_for
from squall.storage import DataDir
from tests.inprocess import RegistryDouble, context

TOPIC = "arn:aws:sns:us-east-1:000000000000:uploads"


class FakeSns(RegistryDouble):
    """SNS as the in-process client reaches it (inputs validated against the model)."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, str | None]] = []
        self.principals: list[Principal] = []

    async def dispatch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        assert ctx.service == "sns"
        self.principals.append(ctx.principal)
        if params["TopicArn"] != TOPIC:
            raise ServiceError("NotFound", "Topic does not exist", 404)
        if ctx.operation == "GetTopicAttributes":
            return {"Attributes": {"TopicArn": TOPIC}}
        assert ctx.operation == "Publish"
        self.published.append((params["TopicArn"], params["Message"], params.get("Subject")))
        return {"MessageId": "msg-id"}


def _ctx() -> RequestContext:
    return context("req-1", "000000000000", "us-east-1", "s3", "PutBucketNotificationConfiguration",
                          "test", "arn:aws:iam::000000000000:root", "http://localhost")  # fmt: skip


def test_topic_destination_with_a_double(tmp_path: Path) -> None:
    async def scenario() -> None:
        with DataDir.open(tmp_path / "d") as dd:
            data = S3Data(dd.store, dd.blobs)
            topics = FakeSns()
            targets = Destinations(Calls(topics, "http://localhost:4566"), None)
            api = Notifications(Buckets(data), targets)
            data.save_bucket(Bucket("bkt", "000000000000", "us-east-1", time.time()))
            missing = TOPIC + "-missing"
            with pytest.raises(ServiceError) as exc:
                await api.put_bucket_notification_configuration(_ctx(), {"Bucket": "bkt", "NotificationConfiguration": {
                    "TopicConfigurations": [{"TopicArn": missing, "Events": ["s3:ObjectCreated:*"]}]}})  # fmt: skip
            assert exc.value.fields["ArgumentName1"] == missing
            assert exc.value.fields["ArgumentValue1"] == "The destination topic does not exist"
            await api.put_bucket_notification_configuration(_ctx(), {"Bucket": "bkt", "NotificationConfiguration": {
                "TopicConfigurations": [{"Id": "t", "TopicArn": TOPIC, "Events": ["s3:ObjectCreated:*"]}]}})  # fmt: skip
            ((arn, test, subject),) = topics.published
            assert arn == TOPIC and subject == "Amazon S3 Notification"
            assert json.loads(test)["Event"] == "s3:TestEvent"
            notifier = Notifier(data, targets)
            async with running(notifier):
                writer = await data.write_body(b"abc")
                version = ObjectVersion("a b", "null", 0, time.time(), f'"{writer.md5_hex}"', writer.size,
                                        [(writer.id, writer.size)])  # fmt: skip
                data.commit_version(data.bucket("bkt"), version, "ObjectCreated:Put")
                for _ in range(200):
                    if len(topics.published) == 2:
                        break
                    await asyncio.sleep(0.01)
            data.close()
            _, message, subject = topics.published[1]
            record = json.loads(message)["Records"][0]
            assert subject == "Amazon S3 Notification"
            assert record["s3"]["object"]["key"] == "a+b" and record["s3"]["configurationId"] == "t"
            assert {(p.kind, p.service, p.source_arn, p.account_id) for p in topics.principals} == {
                (PrincipalKind.SERVICE, "s3.amazonaws.com", "arn:aws:s3:::bkt", "000000000000")
            }

    asyncio.run(scenario())


def test_expand_and_normalize() -> None:
    assert expand("s3:ObjectRemoved:*") == {"ObjectRemoved:Delete", "ObjectRemoved:DeleteMarkerCreated"}
    assert expand("s3:LifecycleTransition") == {"LifecycleTransition"}
    for bad in ("s3:ObjectCreated:Nope", "ObjectCreated:Put", "s3:LifecycleTransition:*", "s3:ObjectCreated"):
        with pytest.raises(ServiceError):
            expand(bad)
    config = normalize({"QueueConfigurations": [{"QueueArn": "q", "Events": ["s3:ObjectCreated:Put"],
        "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".jpg"}]}}}]})  # fmt: skip
    (item,) = config["QueueConfigurations"]
    assert item["Id"] and item["Filter"]["Key"]["FilterRules"] == [{"Name": "Suffix", "Value": ".jpg"}]
    with pytest.raises(ServiceError):
        normalize({"QueueConfigurations": [{"QueueArn": "q", "Events": ["s3:ObjectCreated:Put"],
            "Filter": {"Key": {"FilterRules": [{"Name": "middle", "Value": "x"}]}}}]})  # fmt: skip
    assert targets_for(config, "ObjectCreated:Put", "x.jpg") == [
        {"kind": "queue", "arn": "q", "id": item["Id"]}
    ]
    assert targets_for(config, "ObjectCreated:Put", "x.png") == []
    assert targets_for(config, "ObjectCreated:Copy", "x.jpg") == []


def test_record_encoding_and_removed_fields() -> None:
    event = ObjectEvent("ObjectRemoved:DeleteMarkerCreated", "000000000000", "eu-west-1", "b", "a/ü =x", 0, "",
                        "v1", "00000000000000FF", 0.5, request_id="r")  # fmt: skip
    record = event_record(event, "cfg")
    assert record["s3"]["object"] == {
        "key": "a/%C3%BC+%3Dx",
        "versionId": "v1",
        "sequencer": "00000000000000FF",
    }
    assert record["eventTime"] == "1970-01-01T00:00:00.500Z" and record["awsRegion"] == "eu-west-1"
