"""In-process: what the invocation path records — throttles, the framed log in the EE's stream, metrics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from squall.engine.environment import InvocationResult
from squall.observability.metrics import LAMBDA, SQUALL_LAMBDA
from squall.services.lambda_.invoker import Target
from squall.services.lambda_.names import parse_function
from squall.services.lambda_.provider import LambdaProvider
from squall.storage import DataDir
from tests.services.lambda_.test_functions_directory import FakeLayers

A, R = "000000000000", "us-east-1"


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[LambdaProvider]:
    data = DataDir.open(tmp_path / "data")
    try:
        yield LambdaProvider(data.store, data.blobs, layers=FakeLayers(), code_root=tmp_path / "code")
    finally:
        data.close()


def test_record_throttle_counts_by_function_and_qualifier(provider: LambdaProvider) -> None:
    provider.invoker.record_throttle(parse_function("f", account_id=A, region=R, qualifier="live"))
    provider.invoker.record_throttle(parse_function("f", account_id=A, region=R, qualifier=None))
    metrics = provider.telemetry.metrics
    assert metrics.read(A, R, LAMBDA, "Throttles", {"FunctionName": "f"})[0].stat.sum == 2
    live = {"FunctionName": "f", "Resource": "f:live"}
    assert metrics.read(A, R, LAMBDA, "Throttles", live)[0].stat.sum == 1


def test_record_logs_the_framed_invocation_and_counts_it(provider: LambdaProvider) -> None:
    ref = parse_function("f", account_id=A, region=R, qualifier="live")
    target = Target(ref, "3", {"MemorySize": 512}, code=None)  # type: ignore[arg-type]
    stream = "2026/01/01/[3]abc"
    result = InvocationResult("rid-1", False, b"{}", b"one\ntwo", 2.5, 7.0, 40, log_stream_name=stream)
    provider.invoker.record(target, result, provisioned=False)
    provider.telemetry.writer.flush()
    events, _, _ = provider.telemetry.logs.get_events(A, R, "/aws/lambda/f", stream, from_head=True)
    messages = [e.message for e in events]
    assert messages[:4] == ["START RequestId: rid-1 Version: 3\n", "one\n", "two\n", "END RequestId: rid-1\n"]
    assert messages[4].startswith("REPORT RequestId: rid-1\tDuration: 2.50 ms\tBilled Duration: 3 ms\t")
    assert "Memory Size: 512 MB\tMax Memory Used: 40 MB\tInit Duration: 7.00 ms\t" in messages[4]
    metrics = provider.telemetry.metrics
    executed = {"FunctionName": "f", "Resource": "f:live", "ExecutedVersion": "3"}
    assert metrics.read(A, R, LAMBDA, "Errors", executed)[0].stat.sum == 1
    spill = metrics.read(A, R, LAMBDA, "ProvisionedConcurrencySpilloverInvocations", {"FunctionName": "f"})
    assert spill[0].stat.sum == 1
    gbs = metrics.read(A, R, SQUALL_LAMBDA, "BilledGBSeconds", {"FunctionName": "f"})
    assert gbs[0].stat.sum == pytest.approx(0.5 * 0.003)
