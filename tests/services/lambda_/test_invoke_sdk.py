"""boto3 inside functions reaches Squall as the function's role; STS AssumeRole over the wire."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from squall.engine.host import discover_interpreters
from tests.conftest import RunningServer, start_server
from tests.services.lambda_.helpers import ACCOUNT, ROLE, create, make_zip, unique

VERSIONS = {i.version for i in discover_interpreters()}
pytestmark = pytest.mark.skipif("3.11" not in VERSIONS, reason="no python3.11 interpreter")

WHOAMI = """
import os, sys
import boto3
def handler(event, context):
    ident = boto3.client("sts").get_caller_identity()
    return {
        "Arn": ident["Arn"], "UserId": ident["UserId"], "Account": ident["Account"],
        "key": os.environ["AWS_ACCESS_KEY_ID"], "secret": os.environ["AWS_SECRET_ACCESS_KEY"],
        "token": os.environ["AWS_SESSION_TOKEN"], "python": "%d.%d" % sys.version_info[:2],
        "boto3": boto3.__file__,
    }
"""

LISTER = """
import boto3
def handler(event, context):
    names = []
    for page in boto3.client("lambda").get_paginator("list_functions").paginate():
        names += [f["FunctionName"] for f in page["Functions"]]
    return names
"""


def invoke(lam: Any, name: str) -> Any:
    out = lam.invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, body
    return body


def whoami_function(lam: Any, runtime: str = "python3.11", role: str = ROLE) -> str:
    name = unique("sdk")
    create(lam, name, Runtime=runtime, Role=role, Code={"ZipFile": make_zip(WHOAMI)})
    return name


def test_function_calls_sts_as_its_role(server: RunningServer) -> None:
    lam = server.client("lambda")
    name = whoami_function(lam, role="arn:aws:iam::000000000000:role/service-role/fn-exec")
    ident = invoke(lam, name)
    assert ident["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/fn-exec/{name}"
    assert ident["Account"] == ACCOUNT
    assert ident["UserId"].startswith("AROA") and ident["UserId"].endswith(f":{name}")
    assert ident["key"].startswith("ASIA")
    # warm EE: the same credentials, not re-issued per invocation
    assert invoke(lam, name)["key"] == ident["key"]
    # a configuration update starts new EEs with fresh credentials
    lam.update_function_configuration(FunctionName=name, Description="changed")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    again = invoke(lam, name)
    assert again["Arn"] == ident["Arn"] and again["key"] != ident["key"]


@pytest.mark.parametrize("version", ["3.12", "3.9"])
def test_sdk_on_other_interpreters(server: RunningServer, version: str) -> None:
    if version not in VERSIONS:
        pytest.skip(f"no python{version} interpreter")
    lam = server.client("lambda")
    name = whoami_function(lam, runtime=f"python{version}")
    out = lam.invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(out["Payload"].read())
    if version == "3.9":
        # urllib3 2.x and boto3 >= 1.36 need Python 3.10: no SDK is offered, the import fails cleanly
        assert out.get("FunctionError") == "Unhandled"
        assert body["errorType"] == "Runtime.ImportModuleError"
        assert "No module named 'boto3'" in body["errorMessage"]
        return
    assert "FunctionError" not in out, body
    assert body["python"] == version and "squall" in body["boto3"]
    assert body["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/lambda-role/{name}"


def test_function_lists_the_functions_of_its_account(server: RunningServer) -> None:
    lam = server.client("lambda")
    other = server.client("lambda", access_key="111111111111", secret="x")
    name = unique("lister")
    create(lam, name, Runtime="python3.11", Code={"ZipFile": make_zip(LISTER)})
    names = invoke(lam, name)
    assert name in names
    try:
        foreign = other.list_functions()["Functions"]
    except ClientError:
        return  # no second account configured on this server: nothing more to compare
    assert all(f["FunctionName"] not in names for f in foreign)


def test_assume_role_over_the_wire(server: RunningServer) -> None:
    sts = server.client("sts")
    role = "arn:aws:iam::000000000000:role/path/reader"
    out = sts.assume_role(
        RoleArn=role, RoleSessionName="alice", DurationSeconds=900, Tags=[{"Key": "k", "Value": "v"}]
    )
    user = out["AssumedRoleUser"]
    assert user["Arn"] == "arn:aws:sts::000000000000:assumed-role/reader/alice"
    assert user["AssumedRoleId"].startswith("AROA") and user["AssumedRoleId"].endswith(":alice")
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    lifetime = creds["Expiration"].timestamp() - time.time()
    assert 800 < lifetime <= 901
    session = _with_token(server, creds)
    ident = session.get_caller_identity()
    assert ident["Arn"] == user["Arn"] and ident["UserId"] == user["AssumedRoleId"]
    assert ident["Account"] == "000000000000"
    # the same role again: the same role id, another session
    second = sts.assume_role(RoleArn=role, RoleSessionName="bob")["AssumedRoleUser"]
    assert second["AssumedRoleId"].split(":")[0] == user["AssumedRoleId"].split(":")[0]
    # role chaining is limited to one hour
    with pytest.raises(ClientError) as err:
        session.assume_role(RoleArn=role, RoleSessionName="chain", DurationSeconds=7200)
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "1 hour session limit for roles assumed by role chaining" in err.value.response["Error"]["Message"]
    assert session.assume_role(RoleArn=role, RoleSessionName="chain", DurationSeconds=3600)["Credentials"]


def _with_token(server: RunningServer, creds: dict[str, Any]) -> Any:
    import boto3

    return boto3.client(
        "sts",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.mark.parametrize(
    ("params", "code", "status", "message"),
    [
        (
            {"RoleArn": "arn:aws:iam::000000000000:role/r", "RoleSessionName": "s1", "DurationSeconds": 100},
            "ValidationError",
            400,
            "1 validation error detected: Value '100' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900",
        ),
        (
            {
                "RoleArn": "arn:aws:iam::000000000000:role/r",
                "RoleSessionName": "s1",
                "DurationSeconds": 43201,
            },
            "ValidationError",
            400,
            "Member must have value less than or equal to 43200",
        ),
        (
            {"RoleArn": "arn:aws:iam::000000000000:role/r", "RoleSessionName": "bad name"},
            "ValidationError",
            400,
            "at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern",
        ),
        (
            {"RoleArn": "arn:aws:iam::000000000000:user/someone", "RoleSessionName": "s1"},
            "ValidationError",
            400,
            "Request ARN is invalid",
        ),
        (
            {"RoleArn": "arn:aws:iam::123456789012:role/elsewhere", "RoleSessionName": "s1"},
            "AccessDenied",
            403,
            "User: arn:aws:iam::000000000000:root is not authorized to perform: sts:AssumeRole on resource: "
            "arn:aws:iam::123456789012:role/elsewhere",
        ),
    ],
)
def test_assume_role_validation(
    server: RunningServer, params: dict[str, Any], code: str, status: int, message: str
) -> None:
    sts = server.client("sts", parameter_validation=False)
    with pytest.raises(ClientError) as err:
        sts.assume_role(**params)
    assert err.value.response["Error"]["Code"] == code
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert message in err.value.response["Error"]["Message"]


def test_function_credentials_after_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_server(data)
    try:
        lam = first.client("lambda")
        create(lam, "who", Runtime="python3.11", Code={"ZipFile": make_zip(WHOAMI)})
        before = invoke(lam, "who")
    finally:
        first.stop()
    second = start_server(data)
    try:
        after = invoke(second.client("lambda"), "who")
        assert after["Arn"] == before["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/lambda-role/who"
        # the session issued before the restart is still honoured (sessions are durable)
        old = {
            "AccessKeyId": before["key"],
            "SecretAccessKey": before["secret"],
            "SessionToken": before["token"],
        }
        assert _with_token(second, old).get_caller_identity()["Arn"] == before["Arn"]
    finally:
        second.stop()
