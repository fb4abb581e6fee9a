"""Concurrency end to end: reserved and account limits throttle with AWS's 429; provisioned concurrency."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from squall.engine.host import discover_interpreters
from tests.conftest import RunningServer, start_server
from tests.services.lambda_.helpers import create, make_zip, publish, unique

pytestmark = pytest.mark.skipif(
    not any(i.version == "3.11" for i in discover_interpreters()), reason="no python3.11 interpreter"
)

APP = """
import os, time
INIT = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"init": INIT, "pid": os.getpid()}
"""


def new_function(lam: Any, **kw: Any) -> str:
    name = unique("thr")
    create(lam, name, Runtime="python3.11", Code={"ZipFile": make_zip(APP)}, **kw)
    return name


def invoke(lam: Any, name: str, sleep: float = 0, **kw: Any) -> dict[str, Any] | ClientError:
    try:
        out = lam.invoke(FunctionName=name, Payload=json.dumps({"sleep": sleep}).encode(), **kw)
    except ClientError as exc:
        return exc
    return dict(json.loads(out["Payload"].read()))


def concurrently(lam: Any, names: list[str], sleep: float) -> list[dict[str, Any] | ClientError]:
    with ThreadPoolExecutor(len(names)) as pool:
        return list(pool.map(lambda n: invoke(lam, n, sleep), names))


def throttles(results: list[dict[str, Any] | ClientError]) -> list[ClientError]:
    return [r for r in results if isinstance(r, ClientError)]


def test_reserved_concurrency_one_throttles_the_second_concurrent_call(server: RunningServer) -> None:
    lam = server.client("lambda", max_pool_connections=4)
    name = new_function(lam)
    invoke(lam, name)  # warm, so the slow calls below overlap for sure
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    results = concurrently(lam, [name, name], sleep=1.5)
    errors = throttles(results)
    assert len(errors) == 1, results
    err = errors[0].response
    assert err["Error"]["Code"] == "TooManyRequestsException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert err["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert err["Type"] == "User" and err["Error"]["Message"] == "Rate Exceeded."
    lam.delete_function_concurrency(FunctionName=name)
    assert throttles(concurrently(lam, [name, name], sleep=0.5)) == []


def test_reserved_zero_throttles_every_invoke(server: RunningServer) -> None:
    lam = server.client("lambda")
    name = new_function(lam)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    for _ in range(3):
        result = invoke(lam, name)
        assert isinstance(result, ClientError)
        assert result.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    lam.delete_function_concurrency(FunctionName=name)
    assert "init" in invoke(lam, name)  # type: ignore[operator]


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    srv = start_server(tmp_path_factory.mktemp("small") / "data", env={"SQUALL_LAMBDA_CONCURRENCY": "5"})
    yield srv
    srv.stop()


def test_account_concurrency_limit_throttles_beyond_it(small_server: RunningServer) -> None:
    lam = small_server.client("lambda", max_pool_connections=12)
    names = [new_function(lam) for _ in range(2)]
    settings = lam.get_account_settings()["AccountLimit"]
    assert settings["ConcurrentExecutions"] == 5
    results = concurrently(lam, [names[i % 2] for i in range(10)], sleep=2.0)
    errors = throttles(results)
    assert len(errors) == 5, results
    assert {e.response["Reason"] for e in errors} == {"ConcurrentInvocationLimitExceeded"}


def wait_ready(lam: Any, name: str, qualifier: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        cfg: dict[str, Any] = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
        if cfg["Status"] != "IN_PROGRESS" or time.monotonic() > deadline:
            return cfg
        time.sleep(0.1)


def test_provisioned_concurrency_on_an_alias_survives_restart(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data")
    try:
        lam = srv.client("lambda")
        name = new_function(lam)
        version = publish(lam, name)
        lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
        put = lam.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=2
        )
        assert put["Status"] == "IN_PROGRESS"
        cfg = wait_ready(lam, name, "live")
        assert cfg["Status"] == "READY", cfg
        assert cfg["AvailableProvisionedConcurrentExecutions"] == 2
        assert cfg["AllocatedProvisionedConcurrentExecutions"] == 2
        result = invoke(lam, name, Qualifier="live", LogType="Tail")
        assert isinstance(result, dict) and result["init"] == "provisioned-concurrency"
        assert invoke(lam, name)["init"] == "on-demand"  # type: ignore[index]
    finally:
        srv.stop()
    srv = start_server(tmp_path / "data")
    try:
        lam = srv.client("lambda")
        cfg = wait_ready(lam, name, "live")
        assert cfg["Status"] == "READY", cfg
        result = invoke(lam, name, Qualifier="live")
        assert isinstance(result, dict) and result["init"] == "provisioned-concurrency"
        lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
        assert invoke(lam, name, Qualifier="live")["init"] == "on-demand"  # type: ignore[index]
    finally:
        srv.stop()


def test_provisioned_concurrency_init_failure_is_failed(server: RunningServer) -> None:
    lam = server.client("lambda")
    name = unique("thr")
    create(lam, name, Runtime="python3.11", Code={"ZipFile": make_zip("raise RuntimeError('bad init')\n")})
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1
    )
    cfg = wait_ready(lam, name, version)
    assert cfg["Status"] == "FAILED" and cfg["StatusReason"] == "FUNCTION_ERROR_INIT_FAILURE", cfg


def test_scaling_rate_throttles_new_environments_beyond_it(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", env={"SQUALL_LAMBDA_SCALING_RATE": "2"})
    try:
        lam = srv.client("lambda", max_pool_connections=6)
        name = new_function(lam)
        results = concurrently(lam, [name] * 4, sleep=1.5)
        errors = throttles(results)
        assert len(errors) == 2, results
        for err in errors:
            assert err.response["Reason"] == "FunctionInvocationRateLimitExceeded"
            assert int(err.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"]) >= 1
        assert all(r["init"] == "on-demand" for r in results if isinstance(r, dict))
    finally:
        srv.stop()
