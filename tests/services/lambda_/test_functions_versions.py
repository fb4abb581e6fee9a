"""PublishVersion, ListVersionsByFunction, UpdateFunctionCode/Configuration, and the waiters."""

from __future__ import annotations

import base64
import hashlib

import pytest
from botocore.exceptions import ClientError

from tests.services.lambda_.helpers import ACCOUNT, create, make_zip


@pytest.fixture(scope="module")
def lam(server):  # type: ignore[no-untyped-def]
    return server.client("lambda")


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_publish_is_an_immutable_snapshot(lam) -> None:  # type: ignore[no-untyped-def]
    name = create(lam, Description="first")["FunctionName"]
    v1 = lam.publish_version(FunctionName=name, Description="release 1")
    assert v1["Version"] == "1" and v1["Description"] == "release 1"
    assert v1["FunctionArn"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}:1"
    lam.get_waiter("published_version_active").wait(FunctionName=name, Qualifier="1")
    # unchanged $LATEST: the same version again
    assert lam.publish_version(FunctionName=name)["Version"] == "1"
    lam.update_function_configuration(FunctionName=name, MemorySize=512, Description="second")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    v2 = lam.publish_version(FunctionName=name)
    assert v2["Version"] == "2" and v2["MemorySize"] == 512
    assert lam.get_function_configuration(FunctionName=name, Qualifier="1")["MemorySize"] == 128
    versions = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    page = lam.list_versions_by_function(FunctionName=name, MaxItems=2)
    assert len(page["Versions"]) == 2
    rest = lam.list_versions_by_function(FunctionName=name, Marker=page["NextMarker"])
    assert [v["Version"] for v in rest["Versions"]] == ["2"]


def test_publish_guards(lam) -> None:  # type: ignore[no-untyped-def]
    name = create(lam)["FunctionName"]
    with pytest.raises(ClientError) as exc:
        lam.publish_version(FunctionName=name, CodeSha256="bogus")
    assert code_of(exc) == "InvalidParameterValueException"
    with pytest.raises(ClientError) as exc:
        lam.publish_version(FunctionName=name, RevisionId="not-the-revision")
    assert code_of(exc) == "PreconditionFailedException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    conf = lam.get_function_configuration(FunctionName=name)
    ok = lam.publish_version(FunctionName=name, CodeSha256=conf["CodeSha256"], RevisionId=conf["RevisionId"])
    assert ok["Version"] == "1"


def test_update_code(lam) -> None:  # type: ignore[no-untyped-def]
    name = create(lam)["FunctionName"]
    before = lam.get_function_configuration(FunctionName=name)
    new = make_zip("def handler(e, c):\n    return 2\n")
    out = lam.update_function_code(FunctionName=name, ZipFile=new, RevisionId=before["RevisionId"])
    assert out["CodeSha256"] == base64.b64encode(hashlib.sha256(new).digest()).decode()
    assert out["LastUpdateStatus"] == "InProgress"
    assert out["RevisionId"] != before["RevisionId"]
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert lam.get_function_configuration(FunctionName=name)["LastUpdateStatus"] == "Successful"
    with pytest.raises(ClientError) as exc:
        lam.update_function_code(FunctionName=name, ZipFile=new, RevisionId=before["RevisionId"])
    assert code_of(exc) == "PreconditionFailedException"
    published = lam.update_function_code(FunctionName=name, ZipFile=make_zip("x = 3\n"), Publish=True)
    assert published["Version"] == "1"
    lam.get_waiter("published_version_active").wait(FunctionName=name, Qualifier="1")


def test_update_configuration_fields(lam) -> None:  # type: ignore[no-untyped-def]
    name = create(lam)["FunctionName"]
    out = lam.update_function_configuration(
        FunctionName=name,
        Handler="other.main",
        Runtime="python3.13",
        MemorySize=1024,
        Timeout=900,
        Description="updated",
        Role=f"arn:aws:iam::{ACCOUNT}:role/other",
        Environment={"Variables": {"KEY1": "v"}},
        EphemeralStorage={"Size": 2048},
        TracingConfig={"Mode": "Active"},
        DeadLetterConfig={"TargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:dlq"},
        LoggingConfig={"LogFormat": "JSON"},
    )
    assert out["Handler"] == "other.main" and out["Runtime"] == "python3.13"
    assert out["MemorySize"] == 1024 and out["Timeout"] == 900
    assert out["EphemeralStorage"] == {"Size": 2048} and out["TracingConfig"] == {"Mode": "Active"}
    assert out["DeadLetterConfig"]["TargetArn"].endswith(":dlq")
    assert out["LoggingConfig"]["LogFormat"] == "JSON"
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    with pytest.raises(ClientError) as exc:
        lam.update_function_configuration(FunctionName=name, Runtime="java21")
    assert code_of(exc) == "InvalidParameterValueException"


def test_update_while_in_progress_conflicts(lam) -> None:  # type: ignore[no-untyped-def]
    name = create(lam)["FunctionName"]
    lam.update_function_configuration(FunctionName=name, Timeout=10)
    # the worker may already have finished; either outcome is AWS-shaped
    try:
        lam.update_function_configuration(FunctionName=name, Timeout=11)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "ResourceConflictException"
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
