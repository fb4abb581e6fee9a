"""In-process: Invoke's state check, alias routing by weight, and the log tail framing."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from squall.engine.environment import InvocationResult
from squall.protocol.errors import ServiceError
from squall.services.lambda_.invoke import LOG_TAIL_BYTES, log_tail
from squall.services.lambda_.invoker import pick_version
from squall.services.lambda_.provider import LambdaProvider
from squall.storage import DataDir
from tests.services.lambda_.helpers import ROLE, make_zip
from tests.services.lambda_.test_functions_directory import FakeLayers, ctx


def call(p: LambdaProvider, operation: str, **params: Any) -> dict[str, Any]:
    return asyncio.run(p.dispatch(ctx(operation), params))


def test_pending_function_cannot_be_invoked(tmp_path: Path) -> None:
    data = DataDir.open(tmp_path / "data")
    try:
        p = LambdaProvider(data.store, data.blobs, layers=FakeLayers(), code_root=tmp_path / "code")
        call(
            p,
            "CreateFunction",
            FunctionName="f",
            Runtime="python3.11",
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": make_zip()},
        )  # no lifecycle worker runs here: the function stays Pending
        with pytest.raises(ServiceError) as err:
            call(p, "Invoke", FunctionName="f", Payload=b"{}")
        assert err.value.code == "ResourceConflictException" and err.value.status == 409
        assert str(err.value.message) == (
            "The operation cannot be performed at this time. "
            "The function is currently in the following state: Pending"
        )
    finally:
        data.close()


def test_pick_version_by_weight() -> None:
    rng = random.Random(7)
    alias = {"FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.25}}}
    picks = [pick_version(alias, rng) for _ in range(4000)]
    assert 800 <= picks.count("2") <= 1200 and set(picks) == {"1", "2"}
    assert pick_version({"FunctionVersion": "3"}, rng) == "3"


def test_log_tail_is_framed_and_capped() -> None:
    result = InvocationResult("rid", True, b"{}", b"x" * 10_000, 1.2, 3.4, 40)
    tail = log_tail(result, "$LATEST", 128)
    assert len(tail) == LOG_TAIL_BYTES
    assert tail.endswith(b"Max Memory Used: 40 MB\tInit Duration: 3.40 ms\t\n")
    short = log_tail(InvocationResult("rid", True, b"{}", b"hi\n", 0.3), "2", 256)
    assert short.startswith(b"START RequestId: rid Version: 2\nhi\nEND RequestId: rid\nREPORT")
    assert b"Billed Duration: 1 ms" in short
