"""Publish and PublishBatch."""

from __future__ import annotations

import re
from typing import Any

from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext
from squall.services.operations import operation
from squall.services.sns.errors import invalid_parameter
from squall.services.sns.messages import MAX_SIZE
from squall.services.sns.publishing import SnsTopics
from squall.services.sns.topic_policy import require

_ENTRY_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")


class PublishApi:
    def __init__(self, topics: SnsTopics) -> None:
        self.topics = topics

    @operation("Publish")
    def publish(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("PhoneNumber"):
            raise invalid_parameter("PhoneNumber Reason: SMS delivery is not supported by Squall")
        arn = params.get("TopicArn") or params.get("TargetArn")
        if not arn:
            raise invalid_parameter("TopicArn or TargetArn Reason: no value for required parameter")
        if params.get("TopicArn") and params.get("TargetArn"):
            raise invalid_parameter("TopicArn Reason: Only one of TopicArn or TargetArn may be specified")
        if ":endpoint/" in arn:
            raise invalid_parameter("TargetArn Reason: mobile push endpoints are not supported by Squall")
        topic = require(ctx, self.topics.topic(ctx.account_id, ctx.region, arn), "Publish")
        msg = self.topics.publish_to(topic, params)
        out: dict[str, Any] = {"MessageId": msg.id}
        if msg.sequence_number is not None:
            out["SequenceNumber"] = msg.sequence_number
        return out

    @operation("PublishBatch")
    def publish_batch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = require(ctx, self.topics.topic(ctx.account_id, ctx.region, params["TopicArn"]), "Publish")
        entries: list[dict[str, Any]] = params.get("PublishBatchRequestEntries") or []
        if not entries:
            raise ServiceError("EmptyBatchRequest", "The batch request doesn't contain any entries.", 400)
        if len(entries) > 10:
            raise ServiceError(
                "TooManyEntriesInBatchRequest",
                "The batch request contains more entries than permissible.",
                400,
            )
        ids = [e.get("Id", "") for e in entries]
        if len(set(ids)) != len(ids):
            raise ServiceError(
                "BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id.", 400
            )
        if not all(_ENTRY_ID.fullmatch(i) for i in ids):
            raise ServiceError(
                "InvalidBatchEntryId",
                "The Id of a batch entry in a batch request doesn't abide by the specification.",
                400,
            )
        total = sum(len((e.get("Message") or "").encode()) for e in entries)
        if total > MAX_SIZE:
            raise ServiceError(
                "BatchRequestTooLong",
                "The length of all the messages put together is more than the limit.",
                400,
            )
        ok: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for entry in entries:
            try:
                msg = self.topics.publish_to(topic, entry)
            except ServiceError as err:
                failed.append(
                    {
                        "Id": entry["Id"],
                        "Code": err.code,
                        "Message": err.message,
                        "SenderFault": err.sender_fault,
                    }
                )
                continue
            result = {"Id": entry["Id"], "MessageId": msg.id}
            if msg.sequence_number is not None:
                result["SequenceNumber"] = msg.sequence_number
            ok.append(result)
        return {"Successful": ok, "Failed": failed}
