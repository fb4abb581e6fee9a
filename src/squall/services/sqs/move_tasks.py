"""StartMessageMoveTask / ListMessageMoveTasks / CancelMessageMoveTask: redrive from a DLQ.

A task is a record in `sqs.tasks` (by source ARN) and, while RUNNING, an
mover (a child task of `MoveTasksApi.run`'s TaskGroup) moving visible messages
in chunks at most `MaxNumberOfMessagesPerSecond` a second (500 when unset).
Tasks still RUNNING when the server stopped are resumed by the next `run`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from squall.lib.tasks import Started, spawn
from squall.services.base import RequestContext
from squall.services.operations import operation
from squall.services.sqs import access
from squall.services.sqs.errors import invalid_parameter, queue_does_not_exist, sqs_error
from squall.services.sqs.messages import move_visible
from squall.services.sqs.messaging import SqsQueues, now_ms
from squall.services.sqs.queues import Queue
from squall.storage import keys

NS = "sqs.tasks"
DEFAULT_RATE = 500
MAX_RATE = 500
ACTIVE = ("RUNNING", "CANCELLING")


@dataclass
class MoveTask:
    handle: str
    source_arn: str
    destination_arn: str | None
    rate: int | None
    started: int
    to_move: int
    moved: int = 0
    status: str = "RUNNING"
    failure: str | None = None

    def key(self) -> bytes:
        return keys.pack(self.source_arn, -self.started, self.handle)

    def entry(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "TaskHandle": self.handle,
            "Status": self.status,
            "SourceArn": self.source_arn,
            "ApproximateNumberOfMessagesMoved": self.moved,
            "ApproximateNumberOfMessagesToMove": self.to_move,
            "StartedTimestamp": self.started,
        }
        if self.destination_arn:
            out["DestinationArn"] = self.destination_arn
        if self.rate is not None:
            out["MaxNumberOfMessagesPerSecond"] = self.rate
        if self.failure:
            out["FailureReason"] = self.failure
        return out


class MoveTasksApi:
    def __init__(self, sqs: SqsQueues) -> None:
        self.sqs = sqs
        self._running: dict[str, asyncio.Task[Any]] = {}  # each RUNNING task's mover
        self._group: asyncio.TaskGroup | None = None  # while running: the movers
        self._stopping = False

    def _save(self, task: MoveTask) -> None:
        with self.sqs.directory.store.write() as w:
            w.put(NS, task.key(), orjson.dumps(asdict(task)))

    def _tasks(self, source_arn: str | None = None) -> list[MoveTask]:
        with self.sqs.directory.store.read() as r:
            rows = list(r.scan(NS, prefix=keys.pack(source_arn) if source_arn else None))
        return [MoveTask(**orjson.loads(v)) for _, v in rows]

    def _source(self, ctx: RequestContext, arn: str) -> Queue:
        queue = self.sqs.directory.by_arn(arn)
        if queue is None:
            raise queue_does_not_exist()
        return access.check(ctx.principal, queue, ctx.operation)

    @operation("StartMessageMoveTask")
    def start_message_move_task(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        source = self._source(ctx, params["SourceArn"])
        destination = params.get("DestinationArn")
        rate = params.get("MaxNumberOfMessagesPerSecond")
        if rate is not None and not 1 <= rate <= MAX_RATE:
            raise invalid_parameter(f"Value {rate} for parameter MaxNumberOfMessagesPerSecond is invalid.")
        if not self._is_dlq(source):
            raise invalid_parameter("Source queue must be configured as a Dead Letter Queue.")
        if destination is not None:
            target = self.sqs.directory.by_arn(destination)
            if target is None:
                raise queue_does_not_exist()
            access.check(ctx.principal, target, ctx.operation)
        if any(t.status in ACTIVE for t in self._tasks(source.arn)):
            raise sqs_error(
                "UnsupportedOperation",
                "There is already a task running. Only one active task is allowed for a source queue "
                "arn at a given time.",
            )
        started = now_ms()
        handle = base64.b64encode(
            json.dumps({"taskId": f"{started}-{source.qid}", "sourceArn": source.arn}).encode()
        ).decode()
        counts = self.sqs.messages.counts(source, started)
        task = MoveTask(handle, source.arn, destination, rate, started, counts.visible + counts.in_flight)
        self._save(task)
        self._launch(task)
        return {"TaskHandle": handle}

    def _is_dlq(self, queue: Queue) -> bool:
        for other in self.sqs.directory.in_region(queue.account, queue.region):
            raw = other.attributes.get("RedrivePolicy")
            if raw and json.loads(raw).get("deadLetterTargetArn") == queue.arn:
                return True
        return False

    def _launch(self, task: MoveTask) -> None:
        if self._group is None:
            return  # not running: saved as RUNNING, the next `run` resumes it
        self._running[task.handle] = spawn(self._group, self._move(task), f"sqs-move-{task.handle}")

    async def _move(self, task: MoveTask) -> None:
        rate = task.rate or DEFAULT_RATE
        try:
            while True:
                source = self.sqs.directory.by_arn(task.source_arn)
                if source is None:
                    task.status, task.failure = "FAILED", "Source queue does not exist."
                    break
                began = time.monotonic()
                moved, targets, failure = move_visible(
                    self.sqs.messages, source, task.destination_arn, rate, now_ms()
                )
                task.moved += moved
                for qid in targets:
                    self.sqs.signals.notify(qid)
                if failure:
                    task.status, task.failure = "FAILED", failure
                    break
                if moved < rate:
                    task.status = "COMPLETED"
                    break
                self._save(task)
                await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - began)))
        except asyncio.CancelledError:
            if not self._stopping:  # a server stop leaves it RUNNING, to be resumed
                task.status = "CANCELLED"
                self._save(task)
            raise
        finally:
            self._running.pop(task.handle, None)
        self._save(task)

    @operation("ListMessageMoveTasks")
    def list_message_move_tasks(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        source = self._source(ctx, params["SourceArn"])
        limit = params.get("MaxResults", 1)
        if not 1 <= limit <= 10:
            raise invalid_parameter(f"Value {limit} for parameter MaxResults is invalid.")
        return {"Results": [t.entry() for t in self._tasks(source.arn)[:limit]]}

    @operation("CancelMessageMoveTask")
    def cancel_message_move_task(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        handle = params["TaskHandle"]
        for task in self._tasks():
            if task.handle == handle:
                break
        else:
            raise sqs_error("ResourceNotFoundException", "Task does not exist.", 404)
        source = self.sqs.directory.by_arn(task.source_arn)
        if source is not None:
            access.check(ctx.principal, source, ctx.operation)  # owner only
        if task.status != "RUNNING":
            raise sqs_error("ResourceNotFoundException", "Only active tasks can be cancelled.", 404)
        runner = self._running.pop(handle, None)
        if runner is not None:
            runner.cancel()
        task.status = "CANCELLED"
        self._save(task)
        return {"ApproximateNumberOfMessagesMoved": task.moved}

    async def run(self, started: Started) -> None:
        """The movers (a `lib.tasks.Background`): tasks left RUNNING by a previous run resume, each
        task moves as a child of this TaskGroup; cancelled with it, they stay RUNNING."""
        self._stopping = False
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                for task in self._tasks():
                    if task.status == "RUNNING" and task.handle not in self._running:
                        self._launch(task)
                started()
                try:
                    await asyncio.Future()
                finally:
                    self._stopping = True  # movers cancelled from here on stay RUNNING, to resume
        finally:
            self._group = None
