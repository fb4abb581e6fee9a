"""Put/GetBucketNotificationConfiguration: destination checks and the s3:TestEvent.

Destinations are reached in process as `s3.amazonaws.com` acting for the
bucket: SQS and SNS through the in-process client (GetQueueAttributes /
GetTopicAttributes to check that they exist, SendMessage / Publish for the test
event), Lambda through its event door (`ports.FunctionEvents`). A Lambda
destination must exist and its resource policy must let s3.amazonaws.com
invoke it for this bucket (as AWS checks). SQS and SNS destinations must exist;
their access policies are not evaluated (treated as allowing S3).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from squall.protocol.errors import ServiceError
from squall.protocol.serializers.restxml import host_id
from squall.services.base import RequestContext
from squall.services.calls import Calls
from squall.services.context import Principal
from squall.services.operations import operation
from squall.services.ports import FunctionEvents, queue_url
from squall.services.s3.buckets import Buckets
from squall.services.s3.models import Bucket
from squall.services.s3.notify_config import destinations, normalize

log = logging.getLogger("squall.s3")
S3_PRINCIPAL = "s3.amazonaws.com"
SUBJECT = "Amazon S3 Notification"


@dataclass(frozen=True)
class Destinations:
    """What S3 notifications reach: SQS and SNS through the in-process client, Lambda through
    its event door (None: no Lambda in this server)."""

    calls: Calls
    functions: FunctionEvents | None


def s3_principal(bucket: str, account: str) -> Principal:
    """S3 acting for a bucket of `account`, as it checks and delivers notifications."""
    return Principal.for_service(S3_PRINCIPAL, account, source_arn=bucket_arn(bucket))


def bucket_arn(name: str) -> str:
    return f"arn:aws:s3:::{name}"


def iso_time(epoch: float) -> str:
    """S3 events' time format: 2024-05-01T12:00:00.123Z."""
    return (
        datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(epoch * 1000) % 1000:03d}Z"
    )


def _arn_parts(arn: str) -> tuple[str, str]:
    """(region, account) of an ARN; ("", "") when it is not one."""
    parts = arn.split(":")
    return (parts[3], parts[4]) if len(parts) >= 6 and parts[0] == "arn" else ("", "")


class Notifications:
    def __init__(self, buckets: Buckets, targets: Destinations) -> None:
        self.buckets = buckets
        self.targets = targets

    @operation("PutBucketNotificationConfiguration")
    async def put_bucket_notification_configuration(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        bucket = self.buckets.owned(ctx, params["Bucket"])
        config = normalize(params.get("NotificationConfiguration") or {})
        if not params.get("SkipDestinationValidation"):
            await self._validate(bucket, config)
        self.buckets.data.save_bucket(dataclasses.replace(bucket, notification=config))
        await self._test_events(ctx, bucket, config)
        return {}

    @operation("GetBucketNotificationConfiguration")
    def get_bucket_notification_configuration(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        bucket = self.buckets.owned(ctx, params["Bucket"])
        return dict(bucket.notification or {})

    async def _validate(self, bucket: Bucket, config: dict[str, Any]) -> None:
        failures: list[tuple[str, str]] = []
        for kind, arn, _ in destinations(config):
            problem = await self._problem(bucket, kind, arn)
            if problem is not None:
                failures.append((arn, problem))
        if failures:
            fields: dict[str, Any] = {}
            for n, (arn, problem) in enumerate(failures, 1):
                fields[f"ArgumentName{n}"] = arn
                fields[f"ArgumentValue{n}"] = problem
            raise ServiceError(
                "InvalidArgument", "Unable to validate the following destination configurations", 400,
                fields=fields,
            )  # fmt: skip

    async def _problem(self, bucket: Bucket, kind: str, arn: str) -> str | None:
        region, _ = _arn_parts(arn)
        principal = s3_principal(bucket.name, bucket.account)
        if kind == "lambda":
            door = self.targets.functions
            ok = door is not None and door.allowed(principal, arn, region=region or bucket.region)
            return None if ok else f"Not authorized to invoke function [{arn}]"
        if region != bucket.region:
            return f"The destination {'queue' if kind == 'queue' else 'topic'} must be in the bucket's region"
        calls = self.targets.calls
        try:
            if kind == "queue":
                params = {"QueueUrl": queue_url(arn), "AttributeNames": ["QueueArn"]}
                await calls.call(principal, "sqs", "GetQueueAttributes", params, region=region)
            else:
                await calls.call(principal, "sns", "GetTopicAttributes", {"TopicArn": arn}, region=region)
        except ServiceError as err:
            if err.status == 403:
                # another account's destination that exists: whether its policy lets S3 send is
                # decided on each delivery (SendMessage / Publish as S3 for this bucket)
                return None
            return f"The destination {'queue' if kind == 'queue' else 'topic'} does not exist"
        return None

    async def _test_events(self, ctx: RequestContext, bucket: Bucket, config: dict[str, Any]) -> None:
        """S3 sends an s3:TestEvent to each SQS and SNS destination of a new configuration."""
        message = orjson.dumps(
            {
                "Service": "Amazon S3",
                "Event": "s3:TestEvent",
                "Time": iso_time(datetime.now(UTC).timestamp()),
                "Bucket": bucket.name,
                "RequestId": ctx.request_id,
                "HostId": host_id(ctx.request_id),
            }
        ).decode()
        principal = s3_principal(bucket.name, bucket.account)
        for kind, arn, _ in destinations(config):
            region, _ = _arn_parts(arn)
            try:
                await send_to(self.targets.calls, principal, kind, arn, region, message)
            except ServiceError as err:
                log.warning("s3: test event to %s not delivered: %s", arn, err.message)


async def send_to(calls: Calls, principal: Principal, kind: str, arn: str, region: str, message: str) -> None:
    """An S3 message to an SQS queue ("queue") or SNS topic ("topic"; nothing for "lambda")."""
    if kind == "queue":
        params = {"QueueUrl": queue_url(arn), "MessageBody": message}
        await calls.call(principal, "sqs", "SendMessage", params, region=region)
    elif kind == "topic":
        params = {"TopicArn": arn, "Message": message, "Subject": SUBJECT}
        await calls.call(principal, "sns", "Publish", params, region=region)
