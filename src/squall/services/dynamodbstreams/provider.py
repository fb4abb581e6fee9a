"""DynamoDB Streams (JSON 1.0): ListStreams, DescribeStream, GetShardIterator, GetRecords."""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

import orjson

from squall.lib.tasks import Background, Started
from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext, ServiceProvider
from squall.services.dynamodb import streams
from squall.services.dynamodbstreams.core import DynamoStreams, shard_not_found, stream_not_found
from squall.storage import Store

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

    def __init__(self, store: Store) -> None:
        self.store = store
        #: The in-process interface (the stream event source mapping reads through it).
        self.streams = DynamoStreams(store)
        super().__init__()

    def background(self) -> Sequence[Background]:
        return (_Listening(self.streams),)

    def list_streams(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        limit = int(params.get("Limit") or 100)
        if not 1 <= limit <= 100:
            raise validation(
                f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
                "constraint: Member must have value less than or equal to 100"
            )
        after = None
        start_arn = params.get("ExclusiveStartStreamArn")
        if start_arn:
            after = streams.meta_key(start_arn)
            if after is None:
                raise validation(f"Invalid StreamArn: {start_arn}")
        with self.store.read() as r:
            found = streams.streams_of(
                r, ctx.account_id, ctx.region, params.get("TableName"), after, limit + 1
            )
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
        parsed = streams.parse_arn(arn)
        if parsed is None or parsed[:2] != (ctx.account_id, ctx.region):
            raise stream_not_found(arn)
        return self.streams.meta(arn)

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

    def get_shard_iterator(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn, shard, kind = params["StreamArn"], params["ShardId"], params["ShardIteratorType"]
        m = self._own(ctx, arn)
        if m["ShardId"] != shard:
            raise shard_not_found(arn, shard)
        number = str(params.get("SequenceNumber") or "")
        if kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
            if not number.isdigit() or len(number) > streams.SEQ_DIGITS:
                raise validation(f"Invalid SequenceNumber for ShardIteratorType {kind}: {number}")
            if int(number) < int(m["StartingSequenceNumber"]):
                raise validation(f"Invalid SequenceNumber {number} for shard {shard}")
            number = number.zfill(streams.SEQ_DIGITS)
        elif number:
            raise validation(f"Invalid request: SequenceNumber is not allowed for ShardIteratorType {kind}")
        if kind == "TRIM_HORIZON":
            after = m.get("TrimmedThrough")
        elif kind == "LATEST":
            after = self.streams.latest_seq(arn, shard) or m["StartingSequenceNumber"]
        elif kind == "AT_SEQUENCE_NUMBER":
            after = streams.seq(int(number) - 1)
        elif kind == "AFTER_SEQUENCE_NUMBER":
            after = number
        else:  # AT_TIMESTAMP
            if params.get("Timestamp") is None:
                raise validation("Timestamp is required for ShardIteratorType AT_TIMESTAMP")
            first = self.streams.first_seq_at(arn, shard, _epoch(params["Timestamp"]))
            after = streams.seq(int(first) - 1) if first else (self.streams.latest_seq(arn, shard) or None)
        trimmed = m.get("TrimmedThrough")
        if after is not None and trimmed is not None and after < trimmed:
            raise ServiceError("TrimmedDataAccessException", TRIMMED, 400)
        return {"ShardIterator": self._iterator(arn, shard, after)}

    def _iterator(self, arn: str, shard: str, after: str | None) -> str:
        token = orjson.dumps({"a": arn, "s": shard, "p": after, "t": time.time()})
        return f"{arn}|{base64.urlsafe_b64encode(token).decode()}"

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


class _Listening:
    """Keeps the in-process interface listening to stream appends until the server stops."""

    def __init__(self, streams: DynamoStreams) -> None:
        self.streams = streams

    async def run(self, started: Started) -> None:
        try:
            started()
            await asyncio.Future()
        finally:
            self.streams.close()
