"""What DynamoDB offers other services in process: `StreamReader`, the `ports.StreamRecords`
over its table streams, read by the DynamoDB Streams API and by Lambda's stream event source
mappings (README.md, "Streams")."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson

from squall.services.dynamodb import streams
from squall.services.ports import ShardInfo, StreamInfo, shard_not_found, stream_not_found
from squall.storage import Store, pack


class StreamReader:
    """Streams, shards and records of every DynamoDB table stream, and a wake-up on append.

    Sequence numbers are 21-digit zero-padded decimal strings: they compare correctly as strings.
    Each stream has one shard (open while the stream is ENABLED, closed with an end sequence
    number once it is DISABLED)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        # After each commit that appended records (in any process of the server: workers
        # relay their notices to the primary).
        store.notices.subscribe(streams.RECORDS, self._appended)

    def owner(self, stream_arn: str) -> tuple[str, str] | None:
        parsed = streams.parse_arn(stream_arn)
        return None if parsed is None else (parsed[0], parsed[1])

    def streams_of(
        self, account: str, region: str, table: str | None, after_arn: str | None, limit: int
    ) -> list[dict[str, Any]]:
        after = None
        if after_arn is not None:
            after = streams.meta_key(after_arn)
            if after is None:
                raise ValueError(after_arn)
        with self.store.read() as r:
            return streams.streams_of(r, account, region, table, after, limit)

    def meta(self, stream_arn: str) -> dict[str, Any]:
        with self.store.read() as r:
            found = streams.load_meta(r, stream_arn)
        if found is None:
            raise stream_not_found(stream_arn)
        return found

    def stream(self, stream_arn: str) -> StreamInfo:
        m = self.meta(stream_arn)
        return StreamInfo(
            m["StreamArn"], m["Account"], m["Region"], m["TableName"], m["StreamViewType"], m["StreamStatus"]
        )

    def shards(self, stream_arn: str) -> list[ShardInfo]:
        m = self.meta(stream_arn)
        return [ShardInfo(m["ShardId"], None, m["StartingSequenceNumber"], m.get("EndingSequenceNumber"))]

    def _shard_meta(self, stream_arn: str, shard_id: str) -> dict[str, Any]:
        m = self.meta(stream_arn)
        if m["ShardId"] != shard_id:
            raise shard_not_found(stream_arn, shard_id)
        return m

    def read(self, stream_arn: str, shard_id: str, after_seq: str | None, limit: int) -> list[dict[str, Any]]:
        """Records (AWS's shape) with SequenceNumber > after_seq, oldest first (None: from the
        oldest kept)."""
        self._shard_meta(stream_arn, shard_id)
        with self.store.read() as r:
            return streams.records(r, stream_arn, shard_id, after_seq, limit)

    def latest_seq(self, stream_arn: str, shard_id: str) -> str | None:
        self._shard_meta(stream_arn, shard_id)
        with self.store.read() as r:
            return streams.last_seq(r, stream_arn, shard_id)

    def first_seq_at(self, stream_arn: str, shard_id: str, timestamp: float) -> str | None:
        """The sequence number of the first record created at or after `timestamp` (None: none yet)."""
        self._shard_meta(stream_arn, shard_id)
        with self.store.read() as r:
            for _, raw in r.scan(streams.RECORDS, prefix=pack(stream_arn, shard_id)):
                record = orjson.loads(raw)
                if record["dynamodb"]["ApproximateCreationDateTime"] >= int(timestamp):
                    return str(record["dynamodb"]["SequenceNumber"])
        return None

    def trimmed_through(self, stream_arn: str) -> str | None:
        return self.meta(stream_arn).get("TrimmedThrough")

    async def wait(self, stream_arn: str, wait_s: float) -> None:
        """Return when a record is appended to the stream (or after `wait_s` seconds)."""
        self._loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = self._loop.create_future()
        self._waiters.setdefault(stream_arn, set()).add(fut)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await fut
        finally:
            waiting = self._waiters.get(stream_arn)
            if waiting is not None:
                waiting.discard(fut)
                if not waiting:
                    del self._waiters[stream_arn]

    def _appended(self, stream_arn: str) -> None:
        # Called after the appending transaction committed, in the committing thread.
        if self._loop is not None and stream_arn in self._waiters:
            self._loop.call_soon_threadsafe(self._wake, stream_arn)

    def _wake(self, stream_arn: str) -> None:
        for fut in self._waiters.pop(stream_arn, set()):
            if not fut.done():
                fut.set_result(None)
