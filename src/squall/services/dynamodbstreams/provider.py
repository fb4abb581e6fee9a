"""DynamoDB Streams (JSON 1.0): ListStreams, DescribeStream, GetShardIterator, GetRecords."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import time
from typing import Any

import orjson

from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext, ServiceProvider
from squall.services.operations import operation
from squall.services.ports import SEQ_DIGITS, StreamRecords, seq, shard_not_found, stream_not_found

ITERATOR_LIFETIME = 15 * 60.0
MAX_RECORDS = 1000
MAX_BYTES = 1 << 20
TRIMMED = "The operation attempted to read past the oldest stream record in a shard."


def validation(message: str) -> ServiceError:
    return ServiceError("ValidationException", message, 400)


def _epoch(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value)


def api_record(record: dict[str, Any]) -> dict[str, Any]:
    """A stored record as GetRecords returns it: the model spells `userIdentity`'s members
    `PrincipalId`/`Type` (the Lambda event, like the stored record, `principalId`/`type`)."""
    who = record.get("userIdentity")
    if who is None:
        return record
    return {**record, "userIdentity": {"PrincipalId": who["principalId"], "Type": who["type"]}}


class DynamoDBStreamsProvider(ServiceProvider):
    service = "dynamodbstreams"

    def __init__(self, records: StreamRecords) -> None:
        #: DynamoDB's table streams (services/dynamodb/ports.py).
        self.streams = records
        super().__init__()

    @operation("ListStreams")
    def list_streams(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        limit = int(params.get("Limit") or 100)
        if not 1 <= limit <= 100:
            raise validation(
                f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
                "constraint: Member must have value less than or equal to 100"
            )
        start_arn = params.get("ExclusiveStartStreamArn") or None
        try:
            found = self.streams.streams_of(
                ctx.account_id, ctx.region, params.get("TableName"), start_arn, limit + 1
            )
        except ValueError:
            raise validation(f"Invalid StreamArn: {start_arn}") from None
        out: dict[str, Any] = {
            "Streams": [
                {"StreamArn": m["StreamArn"], "TableName": m["TableName"], "StreamLabel": m["StreamLabel"]}
                for m in found[:limit]
            ]
        }
        if len(found) > limit:
            out["LastEvaluatedStreamArn"] = found[limit - 1]["StreamArn"]
        return out

    def _own(self, ctx: RequestContext, arn: str) -> dict[str, Any]:
        owner = self.streams.owner(arn)
        if owner != (ctx.account_id, ctx.region):
            if owner is not None and owner[0] != ctx.account_id:
                # another account's stream: no resource policy can grant it in Squall
                action = f"dynamodb:{ctx.operation}"
                raise ServiceError(
                    "AccessDeniedException",
                    f"User: {ctx.principal.caller_arn} is not authorized to perform: {action} on resource: "
                    f"{arn} because no resource-based policy allows the {action} action",
                    400,
                )
            raise stream_not_found(arn)
        return self.streams.meta(arn)

    @operation("DescribeStream")
    def describe_stream(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        m = self._own(ctx, params["StreamArn"])
        shards: list[dict[str, Any]] = []
        filt = params.get("ShardFilter") or {}
        start = params.get("ExclusiveStartShardId")
        # One shard per stream: it has no parent and no children.
        if filt.get("Type") != "CHILD_SHARDS" and (not start or start < m["ShardId"]):
            span = {"StartingSequenceNumber": m["StartingSequenceNumber"]}
            if m.get("EndingSequenceNumber"):
                span["EndingSequenceNumber"] = m["EndingSequenceNumber"]
            shards.append({"ShardId": m["ShardId"], "SequenceNumberRange": span})
        return {
            "StreamDescription": {
                "StreamArn": m["StreamArn"],
                "StreamLabel": m["StreamLabel"],
                "StreamStatus": m["StreamStatus"],
                "StreamViewType": m["StreamViewType"],
                "CreationRequestDateTime": m["CreationRequestDateTime"],
                "TableName": m["TableName"],
                "KeySchema": m["KeySchema"],
                "Shards": shards,
            }
        }

    @operation("GetShardIterator")
    def get_shard_iterator(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn, shard, kind = params["StreamArn"], params["ShardId"], params["ShardIteratorType"]
        m = self._own(ctx, arn)
        if m["ShardId"] != shard:
            raise shard_not_found(arn, shard)
        number = str(params.get("SequenceNumber") or "")
        if kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
            if not number.isdigit() or len(number) > SEQ_DIGITS:
                raise validation(f"Invalid SequenceNumber for ShardIteratorType {kind}: {number}")
            if int(number) < int(m["StartingSequenceNumber"]):
                raise validation(f"Invalid SequenceNumber {number} for shard {shard}")
            number = number.zfill(SEQ_DIGITS)
        elif number:
            raise validation(f"Invalid request: SequenceNumber is not allowed for ShardIteratorType {kind}")
        if kind == "TRIM_HORIZON":
            after = m.get("TrimmedThrough")
        elif kind == "LATEST":
            after = self.streams.latest_seq(arn, shard) or m["StartingSequenceNumber"]
        elif kind == "AT_SEQUENCE_NUMBER":
            after = seq(int(number) - 1)
        elif kind == "AFTER_SEQUENCE_NUMBER":
            after = number
        else:  # AT_TIMESTAMP
            if params.get("Timestamp") is None:
                raise validation("Timestamp is required for ShardIteratorType AT_TIMESTAMP")
            first = self.streams.first_seq_at(arn, shard, _epoch(params["Timestamp"]))
            after = seq(int(first) - 1) if first else (self.streams.latest_seq(arn, shard) or None)
        trimmed = m.get("TrimmedThrough")
        if after is not None and trimmed is not None and after < trimmed:
            raise ServiceError("TrimmedDataAccessException", TRIMMED, 400)
        return {"ShardIterator": self._iterator(arn, shard, after)}

    def _iterator(self, arn: str, shard: str, after: str | None) -> str:
        token = orjson.dumps({"a": arn, "s": shard, "p": after, "t": time.time()})
        return f"{arn}|{base64.urlsafe_b64encode(token).decode()}"

    @operation("GetRecords")
    def get_records(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        raw = params["ShardIterator"]
        try:
            token = orjson.loads(base64.urlsafe_b64decode(raw.rsplit("|", 1)[-1]))
            arn, shard, after, issued = token["a"], token["s"], token["p"], float(token["t"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise validation("Invalid ShardIterator") from None
        limit = int(params.get("Limit") or MAX_RECORDS)
        if not 1 <= limit <= MAX_RECORDS:
            raise validation(
                f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: "
                f"Member must have value less than or equal to {MAX_RECORDS}"
            )
        now = time.time()
        if now - issued > ITERATOR_LIFETIME:
            created = dt.datetime.fromtimestamp(issued, dt.UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
            current = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
            raise ServiceError(
                "ExpiredIteratorException",
                f"Iterator expired. The iterator was created at time {created} while right now it is "
                f"{current} which is further in the future than the tolerated delay of 900000 milliseconds.",
                400,
            )
        m = self._own(ctx, arn)
        trimmed = m.get("TrimmedThrough")
        if after is not None and trimmed is not None and after < trimmed:
            raise ServiceError("TrimmedDataAccessException", TRIMMED, 400)
        records = self.streams.read(arn, shard, after, limit)
        size = 0
        for i, record in enumerate(records):  # at most 1 MB of records per call, as AWS
            size += int(record["dynamodb"]["SizeBytes"])
            if size > MAX_BYTES and i:
                records = records[:i]
                break
        position = records[-1]["dynamodb"]["SequenceNumber"] if records else after
        out: dict[str, Any] = {"Records": [api_record(r) for r in records]}
        # A closed shard read to its end has no next iterator.
        last = self.streams.latest_seq(arn, shard) if m.get("EndingSequenceNumber") and not records else None
        if not m.get("EndingSequenceNumber") or records or (last is not None and (position or "") < last):
            out["NextShardIterator"] = self._iterator(arn, shard, position)
        return out
