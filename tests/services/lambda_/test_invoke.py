"""Invoke end to end: boto3 against a real server running real handlers in the engine."""

from __future__ import annotations

import base64
import json
from collections import Counter
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
import os
def handler(event, context):
    print("hello from", context.function_name)
    if event.get("fail"):
        raise ValueError("boom")
    if event.get("sleep"):
        import time; time.sleep(event["sleep"])
    return {"echo": event, "version": context.function_version, "tag": %r, "pid": os.getpid()}
"""


def app(tag: str = "v1") -> bytes:
    return make_zip(APP % tag)


def invoke(lam: Any, name: str, event: Any = None, **kw: Any) -> tuple[dict[str, Any], Any]:
    out = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode(), **kw)
    return out, json.loads(out["Payload"].read())


def new_function(lam: Any, tag: str = "v1", **kw: Any) -> str:
    name = unique("inv")
    create(lam, name, Runtime="python3.11", Code={"ZipFile": app(tag)}, **kw)
    return name


def test_invoke_returns_result_and_reuses_warm_ee(server: RunningServer) -> None:
    lam = server.client("lambda")
    name = new_function(lam)
    out, body = invoke(lam, name, {"a": 1})
    assert out["StatusCode"] == 200 and "FunctionError" not in out
    assert out["ExecutedVersion"] == "$LATEST"
    assert body["echo"] == {"a": 1} and body["version"] == "$LATEST" and body["tag"] == "v1"
    _, again = invoke(lam, name, {"a": 2})
    assert again["pid"] == body["pid"]
    dry = lam.invoke(FunctionName=name, InvocationType="DryRun")
    assert dry["StatusCode"] == 204


def test_handler_error_and_log_tail(server: RunningServer) -> None:
    lam = server.client("lambda")
    name = new_function(lam)
    out, body = invoke(lam, name, {"fail": True}, LogType="Tail")
    assert out["StatusCode"] == 200 and out["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "boom"
    log = base64.b64decode(out["LogResult"]).decode()
    assert log.startswith("START RequestId: ") and "Version: $LATEST" in log
    assert f"hello from {name}" in log and "END RequestId: " in log
    assert "REPORT RequestId: " in log and "Billed Duration: " in log and "Init Duration: " in log


def test_timeout(server: RunningServer) -> None:
    lam = server.client("lambda")
    name = new_function(lam, Timeout=1)
    out, body = invoke(lam, name, {"sleep": 5})
    assert out["FunctionError"] == "Unhandled"
    assert "Task timed out after 1.00 seconds" in body["errorMessage"]
    _, ok = invoke(lam, name, {"x": 1})  # a fresh EE serves the next call
    assert ok["echo"] == {"x": 1}


def test_update_code_then_invoke_runs_new_code(server: RunningServer) -> None:
    lam = server.client("lambda")
    name = new_function(lam, "old")
    assert invoke(lam, name)[1]["tag"] == "old"
    lam.update_function_code(FunctionName=name, ZipFile=app("new"))
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert invoke(lam, name)[1]["tag"] == "new"


def test_versions_and_weighted_alias(server: RunningServer) -> None:
    lam = server.client("lambda")
    name = new_function(lam, "one")
    publish(lam, name)
    lam.update_function_code(FunctionName=name, ZipFile=app("two"))
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    publish(lam, name)
    out, body = invoke(lam, name, Qualifier="1")
    assert out["ExecutedVersion"] == "1" and body["tag"] == "one" and body["version"] == "1"
    lam.create_alias(
        FunctionName=name,
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}},
    )
    seen = Counter(invoke(lam, f"{name}:live")[0]["ExecutedVersion"] for _ in range(200))
    assert set(seen) == {"1", "2"} and 30 <= seen["2"] <= 90, seen


def test_errors(server: RunningServer) -> None:
    lam = server.client("lambda")
    name = new_function(lam)
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName=name, Qualifier="9")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName=name, Payload=b"{not json")
    assert err.value.response["Error"]["Code"] == "InvalidRequestContentException"
    # AWS's recorded answer (awslabs/aws-athena-query-federation#793): "Request must be smaller than
    # 6291456 bytes for the InvokeFunction operation (Service: AWSLambda; Status Code: 413; Error Code:
    # RequestEntityTooLargeException"; the limit is the 6 MB of docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
    big = json.dumps({"x": "a" * 6_300_000}).encode()
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName=name, Payload=big)
    assert err.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert err.value.response["Error"]["Message"] == (
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    )
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    # exactly at the limit is accepted (a JSON string of 6291456 bytes)
    edge = b'"' + b"a" * (6_291_456 - 2) + b'"'
    assert lam.invoke(FunctionName=name, Payload=edge)["StatusCode"] == 200


def test_invoke_after_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_server(data)
    try:
        lam = first.client("lambda")
        create(lam, "kept", Runtime="python3.11", Code={"ZipFile": app("durable")})
        assert invoke(lam, "kept")[1]["tag"] == "durable"
    finally:
        first.stop()
    second = start_server(data)
    try:
        assert invoke(second.client("lambda"), "kept", {"b": 2})[1]["echo"] == {"b": 2}
    finally:
        second.stop()


def test_oversized_response(server: RunningServer) -> None:
    lam = server.client("lambda")
    name = unique("big")
    source = "def handler(event, context):\n    return 'a' * 7_000_000\n"
    create(lam, name, Runtime="python3.11", Code={"ZipFile": make_zip(source)})
    out, body = invoke(lam, name)
    assert out["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Function.ResponseSizeTooLarge"
    assert body["errorMessage"] == (
        "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
    )
