"""AddPermission / RemovePermission / GetPolicy end to end on real functions."""

from __future__ import annotations

import json

import pytest

from tests.conftest import start_server
from tests.services.lambda_.attachment_e2e import ACCOUNT, code_zip, create_function, publish_with_alias


def test_permissions_lifecycle(server) -> None:
    c = server.client("lambda")
    name = create_function(c, "pol")
    version = publish_with_alias(c, name)
    st = c.add_permission(
        FunctionName=name,
        StatementId="s3-invoke",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::my-bucket",
        SourceAccount=ACCOUNT,
    )
    assert json.loads(st["Statement"])["Resource"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    with pytest.raises(c.exceptions.ResourceConflictException):
        c.add_permission(
            FunctionName=name,
            StatementId="s3-invoke",
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
        )
    c.add_permission(
        FunctionName=name,
        Qualifier="live",
        StatementId="a",
        Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com",
    )
    c.add_permission(
        FunctionName=f"{name}:{version}",
        StatementId="v",
        Action="lambda:InvokeFunction",
        Principal="123456789012",
    )
    doc = json.loads(c.get_policy(FunctionName=name)["Policy"])
    assert doc["Version"] == "2012-10-17" and [s["Sid"] for s in doc["Statement"]] == ["s3-invoke"]
    assert (
        json.loads(c.get_policy(FunctionName=name, Qualifier="live")["Policy"])["Statement"][0]["Sid"] == "a"
    )
    c.remove_permission(FunctionName=name, StatementId="s3-invoke")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.get_policy(FunctionName=name)
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.remove_permission(FunctionName=name, StatementId="s3-invoke")


def test_policy_goes_with_the_function(server) -> None:
    c = server.client("lambda")
    name = create_function(c, "polc")
    c.add_permission(FunctionName=name, StatementId="x", Action="lambda:InvokeFunction", Principal="*")
    c.delete_function(FunctionName=name)
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.get_policy(FunctionName=name)
    c.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=f"arn:aws:iam::{ACCOUNT}:role/r",
        Handler="index.handler",
        Code={"ZipFile": code_zip()},
    )
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.get_policy(FunctionName=name)


def test_policy_survives_restart(tmp_path) -> None:
    srv = start_server(tmp_path / "data")
    try:
        c = srv.client("lambda")
        name = create_function(c, "polr")
        c.add_permission(FunctionName=name, StatementId="x", Action="lambda:InvokeFunction", Principal="*")
    finally:
        srv.stop()
    srv = start_server(tmp_path / "data")
    try:
        doc = json.loads(srv.client("lambda").get_policy(FunctionName=name)["Policy"])
        assert doc["Statement"][0]["Principal"] == "*"
    finally:
        srv.stop()


def test_deleting_an_alias_deletes_its_policy_and_invoke_config(server) -> None:
    from botocore.exceptions import ClientError

    c = server.client("lambda")
    name = create_function(c, "aliasgone")
    publish_with_alias(c, name, "blue")
    c.add_permission(
        FunctionName=name,
        Qualifier="blue",
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
    )
    c.put_function_event_invoke_config(FunctionName=name, Qualifier="blue", MaximumRetryAttempts=1)
    c.delete_alias(FunctionName=name, Name="blue")
    publish_with_alias(c, name, "blue")  # a new alias of the same name starts clean
    for call in (
        lambda: c.get_policy(FunctionName=name, Qualifier="blue"),
        lambda: c.get_function_event_invoke_config(FunctionName=name, Qualifier="blue"),
    ):
        try:
            call()
            raise AssertionError("the deleted alias's record survived")
        except ClientError as err:
            assert err.response["Error"]["Code"] == "ResourceNotFoundException"
