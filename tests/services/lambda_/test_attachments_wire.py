"""boto3 against the real server: response shapes and statuses of layers, permissions,
invoke configs and event source mappings, on real functions."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import RunningServer
from tests.services.lambda_.attachment_e2e import create_function

ACCOUNT = "000000000000"
QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs"


def create_named(c: Any, name: str) -> None:
    create_function(c, name=name)


def make_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("python/m.py", (2020, 1, 1, 0, 0, 0)), "x = 1\n")
    return buf.getvalue()


def test_layers_over_the_wire(server: RunningServer) -> None:
    c = server.client("lambda")
    out = c.publish_layer_version(
        LayerName="wire-deps",
        Content={"ZipFile": make_zip()},
        CompatibleRuntimes=["python3.12"],
        CompatibleArchitectures=["arm64"],
        LicenseInfo="MIT",
        Description="deps",
    )
    assert out["Version"] == 1 and out["Content"]["CodeSize"] == len(make_zip())
    assert out["LayerVersionArn"].endswith(":layer:wire-deps:1")
    got = c.get_layer_version(LayerName="wire-deps", VersionNumber=1)
    assert got["Content"]["CodeSha256"] == out["Content"]["CodeSha256"]
    assert c.get_layer_version_by_arn(Arn=out["LayerVersionArn"])["Version"] == 1
    layers = c.list_layers(CompatibleRuntime="python3.12")["Layers"]
    assert [x["LayerName"] for x in layers] == ["wire-deps"]
    assert c.list_layer_versions(LayerName="wire-deps", MaxItems=1)["LayerVersions"][0]["Version"] == 1
    c.delete_layer_version(LayerName="wire-deps", VersionNumber=1)
    with pytest.raises(ClientError) as e:
        c.get_layer_version(LayerName="wire-deps", VersionNumber=1)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_permissions_over_the_wire(server: RunningServer) -> None:
    c = server.client("lambda")
    create_named(c, "wire-fn")
    version = c.publish_version(FunctionName="wire-fn")["Version"]
    assert version == "1"
    c.create_alias(FunctionName="wire-fn", Name="live", FunctionVersion="1")
    st = c.add_permission(
        FunctionName="wire-fn",
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::b",
        SourceAccount=ACCOUNT,
    )
    assert json.loads(st["Statement"])["Condition"]["ArnLike"] == {"AWS:SourceArn": "arn:aws:s3:::b"}
    with pytest.raises(c.exceptions.ResourceConflictException):
        c.add_permission(
            FunctionName="wire-fn",
            StatementId="s3",
            Action="lambda:InvokeFunction",
            Principal="sns.amazonaws.com",
        )
    policy = c.get_policy(FunctionName="wire-fn")
    assert json.loads(policy["Policy"])["Statement"][0]["Sid"] == "s3" and policy["RevisionId"]
    c.add_permission(
        FunctionName="wire-fn",
        Qualifier="live",
        StatementId="x",
        Action="lambda:InvokeFunction",
        Principal="123456789012",
    )
    assert json.loads(c.get_policy(FunctionName="wire-fn", Qualifier="live")["Policy"])["Statement"][0][
        "Resource"
    ].endswith(":function:wire-fn:live")
    c.remove_permission(FunctionName="wire-fn", StatementId="s3")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.get_policy(FunctionName="wire-fn")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.get_policy(FunctionName="nope")


def test_invoke_config_over_the_wire(server: RunningServer) -> None:
    c = server.client("lambda")
    create_named(c, "wire-async")
    out = c.put_function_event_invoke_config(
        FunctionName="wire-async",
        MaximumRetryAttempts=1,
        MaximumEventAgeInSeconds=3600,
        DestinationConfig={"OnFailure": {"Destination": QUEUE}},
    )
    assert out["MaximumRetryAttempts"] == 1 and out["FunctionArn"].endswith("wire-async:$LATEST")
    assert out["LastModified"].year >= 2024
    out = c.update_function_event_invoke_config(FunctionName="wire-async", MaximumRetryAttempts=0)
    assert out["MaximumRetryAttempts"] == 0 and out["MaximumEventAgeInSeconds"] == 3600
    listed = c.list_function_event_invoke_configs(FunctionName="wire-async")["FunctionEventInvokeConfigs"]
    assert len(listed) == 1
    with pytest.raises(ClientError) as e:
        c.put_function_event_invoke_config(FunctionName="wire-async", MaximumRetryAttempts=5)
    assert e.value.response["Error"]["Code"] in ("ValidationException", "InvalidParameterValueException")
    c.delete_function_event_invoke_config(FunctionName="wire-async")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.get_function_event_invoke_config(FunctionName="wire-async")


def test_event_source_mappings_over_the_wire(server: RunningServer) -> None:
    c = server.client("lambda")
    server.client("sqs").create_queue(QueueName="jobs")  # a mapping's queue must exist
    create_named(c, "wire-esm")
    m = c.create_event_source_mapping(FunctionName="wire-esm", EventSourceArn=QUEUE, BatchSize=5)
    assert m["State"] == "Creating" and m["BatchSize"] == 5
    assert m["ResponseMetadata"]["HTTPStatusCode"] == 202
    got = c.get_event_source_mapping(UUID=m["UUID"])
    assert got["EventSourceArn"] == QUEUE and got["LastModified"].year >= 2024
    with pytest.raises(c.exceptions.ResourceConflictException):
        c.create_event_source_mapping(FunctionName="wire-esm", EventSourceArn=QUEUE)
    with pytest.raises(c.exceptions.InvalidParameterValueException):
        c.create_event_source_mapping(
            FunctionName="wire-esm", EventSourceArn=f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/s"
        )
    listed = c.list_event_source_mappings(FunctionName="wire-esm")["EventSourceMappings"]
    assert [x["UUID"] for x in listed] == [m["UUID"]]
    upd = c.update_event_source_mapping(UUID=m["UUID"], Enabled=False)
    assert upd["State"] == "Disabling"
    deleted = c.delete_event_source_mapping(UUID=m["UUID"])
    assert deleted["State"] == "Deleting"
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.get_event_source_mapping(UUID=m["UUID"])


def test_layer_permissions_over_the_wire(server: RunningServer) -> None:
    c = server.client("lambda")
    v = c.publish_layer_version(LayerName="wire-shared", Content={"ZipFile": make_zip()})["Version"]
    out = c.add_layer_version_permission(
        LayerName="wire-shared",
        VersionNumber=v,
        StatementId="all",
        Action="lambda:GetLayerVersion",
        Principal="*",
    )
    assert json.loads(out["Statement"])["Principal"] == "*" and out["RevisionId"]
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 201
    pol = c.get_layer_version_policy(LayerName="wire-shared", VersionNumber=v)
    assert json.loads(pol["Policy"])["Statement"][0]["Sid"] == "all"
    c.remove_layer_version_permission(LayerName="wire-shared", VersionNumber=v, StatementId="all")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.get_layer_version_policy(LayerName="wire-shared", VersionNumber=v)


def test_stream_mapping_at_timestamp_over_the_wire(server: RunningServer) -> None:
    import datetime as dt

    c = server.client("lambda")
    create_named(c, "wire-stream")
    when = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    m = c.create_event_source_mapping(
        FunctionName="wire-stream",
        EventSourceArn=f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/ts",
        StartingPosition="AT_TIMESTAMP",
        StartingPositionTimestamp=when,
        DestinationConfig={"OnFailure": {"Destination": QUEUE}},
        FilterCriteria={"Filters": [{"Pattern": '{"data": {"kind": ["a"]}}'}]},
    )
    assert m["StartingPositionTimestamp"] == when
    assert m["DestinationConfig"] == {"OnFailure": {"Destination": QUEUE}}
    got = c.get_event_source_mapping(UUID=m["UUID"])
    assert got["StartingPositionTimestamp"] == when and got["LastProcessingResult"] == "No records processed"
