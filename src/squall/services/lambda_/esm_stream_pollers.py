"""The pollers of the DynamoDB stream event source mappings: `engine.stream_pollers`
fed from the mappings store, with durable per-shard checkpoints.

`desired()` turns every Enabled DynamoDB stream mapping into a `StreamSpec` (batching,
ParallelizationFactor, StartingPosition, the retry policy; its revision holds what needs
a fresh poller). `open(spec)` builds the `DynamoShardSource`, `DynamoStreamHandler` and
`StoreCheckpoints`; a LATEST mapping starts where `latest_positions` found the stream when it
was created or enabled (recorded with the mapping). A record's age limit is `MaximumRecordAgeInSeconds`, or the stream's
24 h retention when that is -1.

Checkpoints live in namespace `lambda.esm.checkpoint`: (mapping uuid, shard id) -> the
position after the last acknowledged record; they go with the mapping (`forget`).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from squall.engine.stream_batches import RetryPolicy
from squall.engine.stream_pollers import BEGIN, END, StreamPoller, StreamPollerManager, StreamSpec
from squall.eventpattern import lambda_record_document
from squall.lib.tasks import Started
from squall.observability import Metrics
from squall.services.lambda_ import esm_rules as rules
from squall.services.lambda_.destinations import DeliveringSink
from squall.services.lambda_.esm import EventSourceMappings
from squall.services.lambda_.esm_access import source_account, stream_refused
from squall.services.lambda_.esm_pollers import _scope, compile_filters
from squall.services.lambda_.esm_streams import (
    DynamoShardSource,
    DynamoStreamHandler,
    Record,
    ShardContext,
    event_record,
)
from squall.services.lambda_.invoker import Invoker
from squall.services.lambda_.names import parse_function
from squall.services.ports import StreamRecords
from squall.storage import Store, pack, unpack

log = logging.getLogger("squall.lambda.esm")

CHECKPOINTS = "lambda.esm.checkpoint"
RETENTION_S = 24 * 3600


class StoreCheckpoints:
    """`engine.stream_pollers.Checkpoints` of one mapping in the store."""

    def __init__(self, store: Store, mapping_id: str) -> None:
        self.store = store
        self.mapping_id = mapping_id

    def load(self) -> dict[str, str]:
        with self.store.read() as r:
            rows = list(r.scan(CHECKPOINTS, prefix=pack(self.mapping_id)))
        return {orjson.loads(v)["shard"]: orjson.loads(v)["position"] for _, v in rows}

    def save(self, shard_id: str, position: str) -> None:
        value = orjson.dumps({"shard": shard_id, "position": position})
        with self.store.write() as w:
            w.put(CHECKPOINTS, pack(self.mapping_id, shard_id), value)

    def forget(self) -> None:
        with self.store.write() as w:
            for key, _ in list(w.scan(CHECKPOINTS, prefix=pack(self.mapping_id))):
                w.delete(CHECKPOINTS, key)


class DynamoStreamPollers:
    def __init__(
        self,
        mappings: EventSourceMappings,
        invoker: Invoker,
        streams: StreamRecords,
        store: Store,
        metrics: Metrics,
        sink: DeliveringSink | None = None,
        endpoint: str | None = None,
        interval_s: float = 0.5,
    ) -> None:
        self.mappings = mappings
        self.invoker = invoker
        self.streams = streams
        self.store = store
        self.metrics = metrics
        self.sink = sink
        self.endpoint = endpoint
        self.manager = StreamPollerManager(self.desired, self.open, interval_s)  # type: ignore[arg-type]
        self._configs: dict[str, dict[str, Any]] = {}
        self._results: dict[str, str] = {}
        self._known: set[str] = set()

    async def run(self, started: Started) -> None:
        """The pollers (a `lib.tasks.Background`): stale checkpoints swept first."""
        self.sweep()
        await self.manager.run(started)

    def sweep(self) -> int:
        """Drop the checkpoints of mappings deleted while the server was down; how many mappings."""
        with self.store.read() as r:
            owners = {str(unpack(k)[0]) for k, _ in r.scan(CHECKPOINTS)}
        gone = owners - self.mappings.ids()
        for mapping_id in gone:
            StoreCheckpoints(self.store, mapping_id).forget()
        return len(gone)

    def desired(self) -> dict[str, StreamSpec]:
        out: dict[str, StreamSpec] = {}
        configs: dict[str, dict[str, Any]] = {}
        for cfg in self.mappings.active(rules.DYNAMODB):
            uuid = cfg["UUID"]
            configs[uuid] = cfg
            account, region = _scope(cfg)
            out[uuid] = spec_of(cfg, self.mappings.start_positions(account, region, uuid))
        left = self._known - set(out)
        if left:  # disabled or deleted: a deleted mapping's checkpoints go too
            existing = self.mappings.ids()
            for mapping_id in left - existing:
                StoreCheckpoints(self.store, mapping_id).forget()
            left &= existing
        self._known = set(out) | left
        self._configs = configs
        return out

    def open(self, spec: StreamSpec) -> StreamPoller[Record]:
        cfg = self._configs[spec.key]
        account, region = _scope(cfg)
        arn = cfg["EventSourceArn"]
        if source_account(arn) != account:
            raise stream_refused(arn)  # another account's stream: no grant can exist (esm_access)
        self.streams.stream(arn)  # raises when the stream is gone
        on_failure = ((cfg.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        context = ShardContext(
            arn,
            parse_function(cfg["FunctionArn"], account_id=account, region=region),
            "ReportBatchItemFailures" in (cfg.get("FunctionResponseTypes") or []),
            on_failure,
            self.endpoint,
        )
        handler = DynamoStreamHandler(
            self.invoker,
            context,
            self.metrics,
            self.sink,
            lambda result: self._record(account, region, spec.key, result),
        )
        filters = compile_filters(cfg.get("FilterCriteria"))
        matches = None
        if filters is not None:
            matcher = filters
            matches = lambda r: matcher(lambda_record_document(event_record(r, arn)))  # noqa: E731
        source = DynamoShardSource(self.streams, arn)
        return StreamPoller(spec, source, handler, StoreCheckpoints(self.store, spec.key), matches)

    def _record(self, account: str, region: str, mapping_id: str, result: str) -> None:
        if self._results.get(mapping_id) != result:
            self._results[mapping_id] = result
            self.mappings.record_result(account, region, mapping_id, result)


def latest_positions(streams: StreamRecords, stream_arn: str) -> dict[str, str]:
    """Where LATEST stands now on each shard of a stream (closed shards: done), recorded by
    `EventSourceMappings` when a LATEST mapping is created or enabled, so that the mapping is
    positioned before it reports Enabled."""
    return {
        s.shard_id: END if s.end_seq is not None else (streams.latest_seq(stream_arn, s.shard_id) or BEGIN)
        for s in streams.shards(stream_arn)
    }


def spec_of(cfg: dict[str, Any], start_positions: dict[str, str] | None = None) -> StreamSpec:
    """A mapping's poller specification (`start_positions`: LATEST as recorded at enabling)."""
    max_age = int(cfg.get("MaximumRecordAgeInSeconds", -1))
    policy = RetryPolicy(
        max_retries=int(cfg.get("MaximumRetryAttempts", -1)),
        max_age_s=RETENTION_S if max_age < 0 else max_age,
        bisect=bool(cfg.get("BisectBatchOnFunctionError")),
    )
    revision = orjson.dumps(
        [
            cfg.get(k)
            for k in (
                "EventSourceArn",
                "FunctionArn",
                "BatchSize",
                "MaximumBatchingWindowInSeconds",
                "ParallelizationFactor",
                "FilterCriteria",
                "FunctionResponseTypes",
                "DestinationConfig",
                "MaximumRecordAgeInSeconds",
                "MaximumRetryAttempts",
                "BisectBatchOnFunctionError",
                "TumblingWindowInSeconds",
            )
        ],
        option=orjson.OPT_NON_STR_KEYS,
    )
    return StreamSpec(
        key=cfg["UUID"],
        batch_size=int(cfg.get("BatchSize") or 100),
        window_s=float(cfg.get("MaximumBatchingWindowInSeconds") or 0),
        parallelization=int(cfg.get("ParallelizationFactor") or 1),
        starting_position=str(cfg.get("StartingPosition") or "LATEST"),
        start_timestamp=cfg.get("StartingPositionTimestamp"),
        policy=policy,
        tumbling_s=float(cfg.get("TumblingWindowInSeconds") or 0),
        revision=revision,
        start_positions=tuple(sorted(start_positions.items())) if start_positions is not None else None,
    )
