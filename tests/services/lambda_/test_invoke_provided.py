"""Custom runtimes end to end: boto3 Invoke of provided.al2023 functions whose runtime interface
client is awslambdaric from PyPI, exec'd by a ``bootstrap`` in the sandbox, over real HTTP."""

from __future__ import annotations

import base64
import importlib.metadata
import io
import json
import zipfile
from typing import Any

import pytest

from squall.engine.host import discover_interpreters
from tests.conftest import RunningServer
from tests.engine.test_provided import BOOTSTRAP as BASH_BOOTSTRAP
from tests.engine.test_provided import FUNCTION as BASH_FUNCTION
from tests.services.lambda_.helpers import create, unique

PY311 = next((i.path for i in discover_interpreters() if i.version == "3.11"), None)

pytestmark = pytest.mark.skipif(PY311 is None, reason="no python3.11 interpreter")

APP = """
import os, time, uuid
EE_ID = uuid.uuid4().hex  # one per Init: tells execution environments apart (pids repeat in namespaces)
def handler(event, context):
    print("handling", context.aws_request_id)
    if event.get("fail"):
        raise KeyError("nope")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    custom = context.client_context.custom if context.client_context else None
    return {"echo": event, "ee": EE_ID, "custom": custom, "pid": os.getpid(), "arn": context.invoked_function_arn,
            "left_ms": context.get_remaining_time_in_millis()}
"""


def ric_bootstrap() -> str:
    return (
        f'#!/bin/bash\nexport PYTHONPATH="$LAMBDA_TASK_ROOT"\nexec {PY311} -s -m awslambdaric "$_HANDLER"\n'
    )


def function_zip(bootstrap: str | None, with_ric: bool = True) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("app.py", APP)
        if bootstrap is not None:
            info = zipfile.ZipInfo("bootstrap", date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = 0o100755 << 16
            zf.writestr(info, bootstrap)
        if with_ric:  # awslambdaric and its dependencies, as installed, copied into the package
            for dist in ("awslambdaric", "simplejson", "snapshot-restore-py"):
                for f in importlib.metadata.distribution(dist).files or []:
                    if ".dist-info" not in f.parts[0] and "__pycache__" not in f.parts:
                        zf.write(f.locate(), str(f))
    return buf.getvalue()


@pytest.fixture(scope="module")
def ric_zip() -> bytes:
    return function_zip(ric_bootstrap())


def provided_function(lam: Any, code: bytes, **kw: Any) -> str:
    name = unique("prov")
    create(lam, name, Runtime="provided.al2023", Handler="app.handler", Code={"ZipFile": code}, **kw)
    return name


def invoke(lam: Any, name: str, event: Any) -> tuple[dict[str, Any], Any]:
    out = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail")
    return out, json.loads(out["Payload"].read())


def test_awslambdaric_success_error_and_warm_reuse(server: RunningServer, ric_zip: bytes) -> None:
    lam = server.client("lambda")
    name = provided_function(lam, ric_zip)
    out, body = invoke(lam, name, {"a": 1})
    assert out["StatusCode"] == 200 and "FunctionError" not in out, body
    assert body["echo"] == {"a": 1} and body["arn"].endswith(f":function:{name}")
    assert 0 < body["left_ms"] <= 3000
    out2, again = invoke(lam, name, {"fail": True})
    assert out2["FunctionError"] == "Unhandled"
    assert again["errorType"] == "KeyError" and again["errorMessage"] == "'nope'"
    ctx = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    out3 = lam.invoke(FunctionName=name, Payload=b'{"b": 2}', ClientContext=ctx)
    third = json.loads(out3["Payload"].read())
    assert third["ee"] == body["ee"]  # the same warm execution environment
    assert third["custom"] == {"k": "v"} and body["custom"] is None


def test_awslambdaric_timeout_replaces_the_ee(server: RunningServer, ric_zip: bytes) -> None:
    lam = server.client("lambda")
    name = provided_function(lam, ric_zip, Timeout=1)
    _, first = invoke(lam, name, {})
    out, body = invoke(lam, name, {"sleep": 5})
    assert out["FunctionError"] == "Unhandled"
    assert body["errorMessage"].endswith("Task timed out after 1.00 seconds")
    _, after = invoke(lam, name, {})
    assert after["ee"] != first["ee"]


def test_bootstrap_exiting_during_init(server: RunningServer) -> None:
    lam = server.client("lambda")
    name = provided_function(lam, function_zip("#!/bin/bash\necho cannot start\nexit 4\n", with_ric=False))
    out, body = invoke(lam, name, {})
    assert out["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert body["errorMessage"].endswith(" Error: Runtime exited with error: exit status 4")
    assert body["errorMessage"].startswith("RequestId: ")


def test_missing_bootstrap_is_an_invalid_entrypoint(server: RunningServer) -> None:
    lam = server.client("lambda")
    name = provided_function(lam, function_zip(None, with_ric=False))
    out, body = invoke(lam, name, {})
    assert out["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.InvalidEntrypoint"
    assert body["errorMessage"].endswith(
        "Error: Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"
    )


def test_bash_curl_bootstrap_in_the_tutorials_style(server: RunningServer) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("bootstrap", date_time=(2024, 1, 1, 0, 0, 0))
        info.external_attr = 0o100755 << 16
        zf.writestr(info, BASH_BOOTSTRAP)
        zf.writestr("function.sh", BASH_FUNCTION)
    lam = server.client("lambda")
    name = unique("bash")
    create(lam, name, Runtime="provided.al2", Handler="function.handler", Code={"ZipFile": buf.getvalue()})
    out, body = invoke(lam, name, {"hello": "world"})
    assert "FunctionError" not in out and body["echo"] == {"hello": "world"}
    assert b'got {"hello": "world"}' in base64.b64decode(out["LogResult"])
    out, body = invoke(lam, name, {"fail": 1})
    assert out["FunctionError"] == "Unhandled" and body["errorType"] == "Function.Failed"
