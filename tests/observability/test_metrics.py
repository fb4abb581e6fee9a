"""Per-minute metric aggregation, dimensions, the durable flush and reading back."""

from __future__ import annotations

from pathlib import Path

import pytest

from squall.observability.metrics import LAMBDA, SQUALL_LAMBDA, Invocation, Metrics, lambda_dims
from squall.storage import SQLiteStore

A, R = "000000000000", "us-east-1"
FN = {"FunctionName": "f"}


class Clock:
    def __init__(self, t: float = 600.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def metrics(tmp_path: Path, clock: Clock) -> Metrics:
    return Metrics(SQLiteStore(tmp_path / "db.sqlite"), clock)


def inv(duration: float, error: bool = False, qualifier: str | None = None, **kw: object) -> Invocation:
    return Invocation(A, R, "f", qualifier, kw.pop("version", "$LATEST"), duration, 256, error, **kw)  # type: ignore[arg-type]


def test_statistics_per_minute(metrics: Metrics, clock: Clock) -> None:
    for d in (10.0, 30.0, 20.0):
        metrics.record_invocation(inv(d))
    metrics.record_invocation(inv(5.0, error=True))
    clock.t += 60
    metrics.record_invocation(inv(1.0))
    (first, second) = metrics.read(A, R, LAMBDA, "Duration", FN)
    assert (first.timestamp, second.timestamp) == (600, 660)
    s = first.stat
    assert (s.count, s.sum, s.minimum, s.maximum, s.unit) == (4, 65.0, 5.0, 30.0, "Milliseconds")
    invocations = metrics.read(A, R, LAMBDA, "Invocations", FN)
    assert [p.stat.sum for p in invocations] == [4, 1]
    errors = metrics.read(A, R, LAMBDA, "Errors", FN)
    assert [p.stat.sum for p in errors] == [1, 0]
    account = metrics.read(A, R, LAMBDA, "Invocations", {})
    assert sum(p.stat.sum for p in account) == 5


def test_billed_gb_seconds(metrics: Metrics) -> None:
    metrics.record_invocation(inv(0.2))  # billed 1 ms at 256 MB
    metrics.record_invocation(inv(99.01))  # billed 100 ms
    (p,) = metrics.read(A, R, SQUALL_LAMBDA, "BilledGBSeconds", FN)
    assert p.stat.sum == pytest.approx(0.25 * 0.101)


def test_dimensions_for_versions_and_aliases() -> None:
    assert lambda_dims("f", None) == ((), (("FunctionName", "f"),))
    assert lambda_dims("f", "$LATEST") == ((), (("FunctionName", "f"),))
    assert lambda_dims("f", "3", "3")[2:] == ((("FunctionName", "f"), ("Resource", "f:3")),)
    assert lambda_dims("f", "live", "2")[3] == (
        ("ExecutedVersion", "2"),
        ("FunctionName", "f"),
        ("Resource", "f:live"),
    )


def test_alias_invocations_and_provisioned_split(metrics: Metrics) -> None:
    metrics.record_invocation(inv(1, qualifier="live", version="2", provisioned=True))
    metrics.record_invocation(inv(1, qualifier="live", version="2", provisioned=False))
    metrics.record_invocation(inv(1, qualifier="live", version="2"))
    res = {"FunctionName": "f", "Resource": "f:live"}
    assert metrics.read(A, R, LAMBDA, "Invocations", res)[0].stat.sum == 3
    assert metrics.read(A, R, LAMBDA, "Invocations", {**res, "ExecutedVersion": "2"})[0].stat.sum == 3
    assert metrics.read(A, R, LAMBDA, "ProvisionedConcurrencyInvocations", res)[0].stat.sum == 1
    assert metrics.read(A, R, LAMBDA, "ProvisionedConcurrencySpilloverInvocations", FN)[0].stat.sum == 1


def test_throttles(metrics: Metrics) -> None:
    metrics.record_throttle(A, R, "f")
    metrics.record_throttle(A, R, "f", "7")
    assert metrics.read(A, R, LAMBDA, "Throttles", FN)[0].stat.sum == 2
    assert metrics.read(A, R, LAMBDA, "Throttles", {"FunctionName": "f", "Resource": "f:7"})[0].stat.sum == 1
    assert metrics.read(A, R, LAMBDA, "Invocations", FN) == []


def test_concurrent_executions_is_the_peak(metrics: Metrics) -> None:
    with metrics.concurrent(A, R, "f"), metrics.concurrent(A, R, "f"), metrics.concurrent(A, R, "f"):
        pass
    with metrics.concurrent(A, R, "f"):
        pass
    (p,) = metrics.read(A, R, LAMBDA, "ConcurrentExecutions", FN)
    assert p.stat.maximum == 3 and p.stat.minimum == 1


def test_flush_writes_finished_minutes_and_merges_across_restarts(tmp_path: Path, clock: Clock) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite")
    metrics = Metrics(store, clock)
    metrics.record_invocation(inv(10))
    assert metrics.flush() == 0  # the minute is not over
    clock.t += 60
    assert metrics.flush() > 0
    metrics.record_invocation(inv(4))
    metrics.flush(everything=True)  # shutdown: the current minute too
    again = Metrics(store, Clock(clock.t))  # a restarted server, same minute
    again.record_invocation(inv(6))
    again.flush(everything=True)
    points = Metrics(store, clock).read(A, R, LAMBDA, "Duration", FN)
    assert [(p.timestamp, p.stat.count, p.stat.sum) for p in points] == [(600, 1, 10), (660, 2, 10)]
