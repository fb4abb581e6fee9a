"""The DynamoDB Streams side of event source mappings: the engine's `ShardSource` over
the DynamoDB Streams service's in-process interface, and the `StreamHandler` that
invokes the function as Lambda's stream integration does.

- The event is `{"Records": [...]}`: each stream record as DynamoDB Streams gives it,
  plus `eventSourceARN` (the stream ARN).
- `FunctionResponseTypes: ["ReportBatchItemFailures"]`: the response's
  `batchItemFailures[].itemIdentifier` are sequence numbers; the batch is retried from
  the lowest one (a malformed response fails the whole batch).
- Before each invocation the `IteratorAge` metric (`AWS/Lambda`, milliseconds from the
  last record's `ApproximateCreationDateTime` to now) is recorded.
- A batch given up goes, when the mapping has `DestinationConfig.OnFailure`, to that
  SQS queue or SNS topic as AWS's stream failure record (`failure_record`); the shard
  moves on either way.
- Each outcome is reported to `on_result` as a `LastProcessingResult`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from squall.engine.stream_batches import Outcome, Window
from squall.engine.stream_pollers import Shard
from squall.observability import Metrics
from squall.observability.metrics import LAMBDA, lambda_dims
from squall.protocol.errors import ServiceError
from squall.services.lambda_.destinations import DeliveringSink, Message
from squall.services.lambda_.esm_sqs import FUNCTION_FAILED, FUNCTION_MISSING, OK, item_failures
from squall.services.lambda_.invoker import Call, Invoker
from squall.services.lambda_.names import FunctionRef
from squall.services.ports import StreamRecords

log = logging.getLogger("squall.lambda.esm")

Record = dict[str, Any]
#: what a record adds to its item's SizeBytes in the event (ids, names, the ARN), roughly
RECORD_OVERHEAD = 512
#: a tumbling window's state beyond this ends the window early
MAX_STATE_BYTES = 1024 * 1024


def _created(record: Record) -> float:
    value = record.get("dynamodb", {}).get("ApproximateCreationDateTime")
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value) if value is not None else time.time()


class DynamoShardSource:
    """`engine.stream_pollers.ShardSource` over one DynamoDB stream."""

    def __init__(self, streams: StreamRecords, stream_arn: str) -> None:
        self.streams = streams
        self.arn = stream_arn

    def shards(self) -> list[Shard]:
        return [Shard(s.shard_id, s.parent_id, s.end_seq) for s in self.streams.shards(self.arn)]

    def read(self, shard_id: str, after_seq: str | None, limit: int) -> list[Record]:
        return self.streams.read(self.arn, shard_id, after_seq, limit)

    def latest_seq(self, shard_id: str) -> str | None:
        return self.streams.latest_seq(self.arn, shard_id)

    def first_seq_at(self, shard_id: str, timestamp: float) -> str | None:
        return self.streams.first_seq_at(self.arn, shard_id, timestamp)

    async def wait(self, wait_s: float) -> None:
        await self.streams.wait(self.arn, wait_s)

    def sequence(self, record: Record) -> str:
        return str(record["dynamodb"]["SequenceNumber"])

    def partition(self, record: Record) -> Hashable:
        return orjson.dumps(record["dynamodb"].get("Keys"), option=orjson.OPT_SORT_KEYS)

    def arrival(self, record: Record) -> float:
        return _created(record)

    def size(self, record: Record) -> int:
        return int(record["dynamodb"].get("SizeBytes", 0)) + RECORD_OVERHEAD


def event_record(record: Record, stream_arn: str) -> Record:
    return {**record, "eventSourceARN": stream_arn}


def window_fields(window: Window, shard_id: str, stream_arn: str) -> dict[str, Any]:
    """What a tumbling window adds to the event."""
    return {
        "window": {"start": _iso(window.start), "end": _iso(window.end)},
        "state": window.state,
        "shardId": shard_id,
        "eventSourceARN": stream_arn,
        "isFinalInvokeForWindow": window.final,
        "isWindowTerminatedEarly": window.terminated_early,
    }


def returned_state(payload: bytes) -> dict[str, Any]:
    """The `state` a tumbling-window invocation returned ({} when none)."""
    try:
        response = orjson.loads(payload) if payload.strip() else None
    except orjson.JSONDecodeError:
        return {}
    state = response.get("state") if isinstance(response, dict) else None
    return state if isinstance(state, dict) else {}


def _iso(ts: float, millis: bool = False) -> str:
    dt = datetime.fromtimestamp(ts, UTC)
    if millis:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def failure_record(
    batch: Sequence[Record],
    shard_id: str,
    stream_arn: str,
    function_arn: str,
    condition: str,
    attempts: int,
    response: dict[str, object] | None,
    now: float | None = None,
) -> dict[str, Any]:
    """AWS's record of a discarded DynamoDB stream batch (the OnFailure destination's message)."""
    first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
    return {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "responseContext": response or {"statusCode": 0, "executedVersion": "", "functionError": ""},
        "version": "1.0",
        "timestamp": _iso(time.time() if now is None else now, millis=True),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first["SequenceNumber"],
            "endSequenceNumber": last["SequenceNumber"],
            "approximateArrivalOfFirstRecord": _iso(_created(batch[0])),
            "approximateArrivalOfLastRecord": _iso(_created(batch[-1])),
            "batchSize": len(batch),
            "streamArn": stream_arn,
        },
    }


@dataclass
class ShardContext:
    """What a handler needs to know besides the batch (one handler per mapping)."""

    stream_arn: str
    function: FunctionRef
    report_failures: bool
    on_failure: str | None
    endpoint: str | None


class DynamoStreamHandler:
    """`engine.stream_batches.StreamHandler` for a DynamoDB stream mapping."""

    def __init__(
        self,
        invoker: Invoker,
        context: ShardContext,
        metrics: Metrics,
        sink: DeliveringSink | None,
        on_result: Callable[[str], None],
    ) -> None:
        self.invoker = invoker
        self.ctx = context
        self.metrics = metrics
        self.sink = sink
        self.on_result = on_result

    async def invoke(self, shard_id: str, batch: Sequence[Record], window: Window | None) -> Outcome:
        ctx = self.ctx
        try:
            target = self.invoker.resolve(ctx.function)
        except ServiceError as exc:
            if exc.code != "ResourceNotFoundException":
                raise
            self.on_result(FUNCTION_MISSING)
            return Outcome(0)
        ref = ctx.function
        if batch:
            age_ms = max(0.0, (time.time() - _created(batch[-1])) * 1000)
            for dims in lambda_dims(ref.name, ref.qualifier):
                self.metrics.put(
                    ref.account_id, ref.region, LAMBDA, "IteratorAge", dims, age_ms, "Milliseconds"
                )
        event: dict[str, Any] = {"Records": [event_record(r, ctx.stream_arn) for r in batch]}
        if window is not None:
            event.update(window_fields(window, shard_id, ctx.stream_arn))
        result = await self.invoker.run(Call(target, orjson.dumps(event), ctx.endpoint))
        # AWS's responseContext always has the three keys; functionError is null when the function
        # returned (a partial batch failure) rather than raised
        response: dict[str, object] = {
            "statusCode": 200,
            "executedVersion": target.version,
            "functionError": None,
        }
        if not result.ok:
            self.on_result(FUNCTION_FAILED)
            return Outcome(0, {**response, "functionError": result.function_error})
        state = returned_state(result.payload) if window is not None else None
        early = state is not None and len(orjson.dumps(state)) > MAX_STATE_BYTES
        if ctx.report_failures and batch:
            seqs = [str(r["dynamodb"]["SequenceNumber"]) for r in batch]
            failed = item_failures(result.payload, set(seqs))
            if failed is None:
                log.info("%s: malformed batchItemFailures response; the batch failed", ref.arn)
                self.on_result(FUNCTION_FAILED)
                return Outcome(0, response)
            if failed:
                self.on_result(FUNCTION_FAILED)
                return Outcome(seqs.index(min(failed)), response, state, early)
        self.on_result(OK)
        return Outcome(None, None, state, early)

    async def give_up(
        self, shard_id: str, batch: Sequence[Record], condition: str, attempts: int, last: Outcome | None
    ) -> None:
        ctx = self.ctx
        if not ctx.on_failure or self.sink is None:
            return
        record = failure_record(
            batch,
            shard_id,
            ctx.stream_arn,
            ctx.function.qualified_arn if ctx.function.qualifier else ctx.function.arn,
            condition,
            attempts,
            last.response if last is not None else None,
        )
        try:
            principal = self.invoker.acting_principal(ctx.function, ctx.stream_arn)
            await self.sink.send(principal, ctx.on_failure, Message(orjson.dumps(record).decode()))
        except Exception as exc:
            error = exc.message if isinstance(exc, ServiceError) else f"{type(exc).__name__}: {exc}"
            log.warning(
                "stream mapping on %s: OnFailure %s not delivered: %s", ctx.stream_arn, ctx.on_failure, error
            )
