"""Invoke with InvocationType=Event end to end: boto3 against a real server with a short retry base.

The handlers leave an observable side effect that does not depend on the
sandbox's view of host paths: each run tags its own function through
Squall's Lambda API (one new tag per run), so the test counts runs with
ListTags. The durable outcome records are read from the data directory
after the server has stopped.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from squall.engine.host import discover_interpreters
from squall.services.lambda_.async_outcomes import NS as OUTCOMES_NS
from squall.storage import DataDir, pack
from tests.conftest import RunningServer, start_server
from tests.services.lambda_.helpers import ACCOUNT, create, make_zip, unique

pytestmark = pytest.mark.skipif(
    not any(i.version == "3.11" for i in discover_interpreters()), reason="no python3.11 interpreter"
)

APP = """
import os, time
import boto3

def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    lam = boto3.client("lambda", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"],
                       aws_access_key_id="test", aws_secret_access_key="test")
    arn = ":".join(context.invoked_function_arn.split(":")[:7])
    lam.tag_resource(Resource=arn, Tags={"run-%d" % time.time_ns(): context.aws_request_id})
    if event.get("fail"):
        raise ValueError("boom")
    return {"done": event}
"""
ENV = {"SQUALL_ASYNC_RETRY_BASE_SECONDS": "0.2"}


@pytest.fixture(scope="module")
def fast_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = start_server(tmp_path_factory.mktemp("async") / "data", env=ENV)
    yield srv
    srv.stop()


def new_function(lam: Any, **kw: Any) -> str:
    name = unique("async")
    create(lam, name, Runtime="python3.11", Code={"ZipFile": make_zip(APP)}, Timeout=30, **kw)
    return name


def runs(lam: Any, name: str) -> list[str]:
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    tags = lam.list_tags(Resource=arn)["Tags"]
    return [v for k, v in sorted(tags.items()) if k.startswith("run-")]


def wait_runs(lam: Any, name: str, n: int, timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = runs(lam, name)
        if len(seen) >= n:
            return seen
        time.sleep(0.1)
    raise AssertionError(f"{name}: {len(runs(lam, name))} runs, expected {n}")


def invoke_event(lam: Any, name: str, event: Any, **kw: Any) -> dict[str, Any]:
    out = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(event).encode(), **kw)
    assert out["StatusCode"] == 202 and out["Payload"].read() == b""
    assert "ExecutedVersion" not in out and "FunctionError" not in out
    return out


def test_event_returns_202_and_the_function_runs(fast_server: RunningServer) -> None:
    lam = fast_server.client("lambda")
    name = new_function(lam)
    out = invoke_event(lam, name, {"x": 1})
    rid = out["ResponseMetadata"]["RequestId"]
    assert wait_runs(lam, name, 1) == [rid]  # the event id is the request id returned
    time.sleep(0.5)
    assert len(runs(lam, name)) == 1  # a success is not retried


@pytest.mark.parametrize("retries", [0, 1, 2])
def test_failing_function_runs_one_plus_max_retries(fast_server: RunningServer, retries: int) -> None:
    lam = fast_server.client("lambda")
    name = new_function(lam)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=retries)
    invoke_event(lam, name, {"fail": True})
    seen = wait_runs(lam, name, 1 + retries)
    assert len(set(seen)) == 1  # every attempt carries the same request id
    time.sleep(0.2 * 2**retries + 1.0)  # longer than the next retry would have waited
    assert len(runs(lam, name)) == 1 + retries


def test_default_is_two_retries_and_qualified_alias(fast_server: RunningServer) -> None:
    lam = fast_server.client("lambda")
    name = new_function(lam)
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.get_waiter("published_version_active").wait(FunctionName=name, Qualifier=version)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    invoke_event(lam, name, {"fail": True}, Qualifier="live")
    assert len(wait_runs(lam, name, 3)) == 3


def test_event_errors(fast_server: RunningServer) -> None:
    lam = fast_server.client("lambda")
    name = new_function(lam)
    # recorded (ASFHyP3/hyp3#2241): RequestEntityTooLargeException "264496 byte payload is too large
    # for the Event invocation type (limit 262144 bytes)"; the limit is now 1 MB
    payload = b'{"a": "' + b"x" * 1_048_576 + b'"}'
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=payload)
    assert err.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert err.value.response["Error"]["Message"] == (
        f"{len(payload)} byte payload is too large for the Event invocation type (limit 1048576 bytes)"
    )
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{not json")
    assert err.value.response["Error"]["Code"] == "InvalidRequestContentException"
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName=name, InvocationType="Event", Qualifier="nope", Payload=b"{}")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    big = b'{"a": "' + b"x" * 1_000_000 + b'"}'  # under 1 MB async, accepted
    assert lam.invoke(FunctionName=name, InvocationType="Event", Payload=big)["StatusCode"] == 202


def outcomes(data_dir: Path, name: str) -> list[dict[str, Any]]:
    dd = DataDir.open(data_dir)
    try:
        with dd.store.read() as r:
            return [json.loads(v) for _, v in r.scan(OUTCOMES_NS, prefix=pack(ACCOUNT, "us-east-1", name))]
    finally:
        dd.close()


def test_accepted_event_survives_kill_9_and_outcome_is_recorded(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = start_server(data, env=ENV)
    try:
        lam = srv.client("lambda")
        name = new_function(lam)
        invoke_event(lam, name, {"sleep": 3})  # still sleeping when the server dies
        time.sleep(0.3)
    finally:
        srv.stop(signal.SIGKILL)
    srv = start_server(data, env=ENV)
    try:
        lam = srv.client("lambda")
        assert len(wait_runs(lam, name, 1, timeout=40)) == 1
        time.sleep(2)  # the outcome is committed as the handler returns, just after its tag
    finally:
        srv.stop()
    (entry,) = outcomes(data, name)
    record = entry["record"]
    assert entry["condition"] == "Success" and record["version"] == "1.0"
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["functionArn"].endswith(f":function:{name}:$LATEST")
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["requestPayload"] == {"sleep": 3}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"done": {"sleep": 3}}
