"""An in-memory DynamoDB Streams double with the interface of `services.ports.StreamRecords`."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from squall.protocol.errors import ServiceError


@dataclass(frozen=True)
class StreamInfo:
    arn: str
    account: str
    region: str
    table: str
    view_type: str
    status: str = "ENABLED"


@dataclass(frozen=True)
class ShardInfo:
    shard_id: str
    parent_id: str | None
    start_seq: str
    end_seq: str | None = None


class MemDynamoStreams:
    def __init__(self, arn: str) -> None:
        parts = arn.split(":")
        self.info = StreamInfo(arn, parts[4], parts[3], parts[5].split("/")[1], "NEW_AND_OLD_IMAGES")
        self.shard = ShardInfo("shardId-00000001-aaaa", None, "0".zfill(21))
        self.records: list[dict[str, Any]] = []
        self.counter = 100
        self._event: asyncio.Event | None = None

    def put(self, event: str, key: str, value: str | None = None, created: float | None = None) -> str:
        self.counter += 1
        seq = str(self.counter).zfill(21)
        image = {"pk": {"S": key}, **({"v": {"S": value}} if value is not None else {})}
        dynamodb: dict[str, Any] = {
            "ApproximateCreationDateTime": float(int(created if created is not None else time.time())),
            "Keys": {"pk": {"S": key}},
            "SequenceNumber": seq,
            "SizeBytes": 20,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        if event != "REMOVE":
            dynamodb["NewImage"] = image
        self.records.append(
            {
                "eventID": f"e{self.counter}",
                "eventName": event,
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": self.info.region,
                "dynamodb": dynamodb,
            }
        )
        if self._event is not None:
            self._event.set()
        return seq

    def stream(self, stream_arn: str) -> StreamInfo:
        if stream_arn != self.info.arn:
            raise ServiceError(
                "ResourceNotFoundException", f"Requested resource not found: {stream_arn}", 400
            )
        return self.info

    def shards(self, stream_arn: str) -> list[ShardInfo]:
        self.stream(stream_arn)
        return [self.shard]

    def read(self, stream_arn: str, shard_id: str, after_seq: str | None, limit: int) -> list[dict[str, Any]]:
        out = [r for r in self.records if after_seq is None or r["dynamodb"]["SequenceNumber"] > after_seq]
        return out[:limit]

    def latest_seq(self, stream_arn: str, shard_id: str) -> str | None:
        return self.records[-1]["dynamodb"]["SequenceNumber"] if self.records else None

    def first_seq_at(self, stream_arn: str, shard_id: str, timestamp: float) -> str | None:
        return next(
            (
                r["dynamodb"]["SequenceNumber"]
                for r in self.records
                if r["dynamodb"]["ApproximateCreationDateTime"] >= timestamp
            ),
            None,
        )

    async def wait(self, stream_arn: str, wait_s: float) -> None:
        if self._event is None:
            self._event = asyncio.Event()
        self._event.clear()
        try:
            async with asyncio.timeout(wait_s):
                await self._event.wait()
        except TimeoutError:
            pass
