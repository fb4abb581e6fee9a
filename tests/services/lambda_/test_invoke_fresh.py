"""Invoke always runs what the records say now: the invoker's remembered targets and configurations
are dropped on every change (alias moved, configuration updated, version deleted, function deleted)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from squall.engine.host import discover_interpreters
from tests.conftest import RunningServer
from tests.services.lambda_.helpers import create, make_zip, unique

pytestmark = pytest.mark.skipif(
    not any(i.version == "3.11" for i in discover_interpreters()), reason="no python3.11 interpreter"
)

APP = """
import os
def handler(event, context):
    return {"version": context.function_version, "tag": os.environ.get("TAG"), "timeout": context.get_remaining_time_in_millis() > 4000}
"""


def call(lam: Any, name: str) -> tuple[str, dict[str, Any]]:
    out = lam.invoke(FunctionName=name, Payload=b"{}")
    return out["ExecutedVersion"], json.loads(out["Payload"].read())


def test_changes_are_seen_by_the_next_invoke(server: RunningServer) -> None:
    lam = server.client("lambda")
    name = unique("fresh")
    create(lam, name, Runtime="python3.11", Handler="app.handler", Code={"ZipFile": make_zip(APP)})
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"TAG": "one"}})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    lam.publish_version(FunctionName=name)
    assert call(lam, name)[1]["tag"] == "one"
    lam.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"TAG": "two"}}, Timeout=10
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert call(lam, name)[1] == {"version": "$LATEST", "tag": "two", "timeout": True}
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    assert call(lam, f"{name}:live") == ("1", {"version": "1", "tag": "one", "timeout": False})
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2")
    assert call(lam, f"{name}:live") == ("2", {"version": "2", "tag": "two", "timeout": True})
    lam.delete_function(FunctionName=name, Qualifier="1")
    with pytest.raises(ClientError) as err:
        call(lam, f"{name}:1")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    lam.delete_function(FunctionName=name)
    with pytest.raises(ClientError) as err:
        call(lam, name)
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
