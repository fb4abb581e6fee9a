"""Reads Terraform's aws_lambda_function and aws_lambda_event_source_mapping make after each
create and refresh: GetFunctionCodeSigningConfig and ListTags on an event source mapping ARN.

Expectations: Lambda API reference (GetFunctionCodeSigningConfig returns the function name and
its code signing config ARN, empty when none is attached; event source mappings are taggable
resources since November 2024: CreateEventSourceMapping `Tags`, TagResource/UntagResource/ListTags
on `arn:aws:lambda:<region>:<account>:event-source-mapping:<uuid>`).
"""

from __future__ import annotations

import pytest

from tests.services.lambda_.helpers import create


def test_code_signing_config_of_a_new_function(server) -> None:  # type: ignore[no-untyped-def]
    lam = server.client("lambda")
    fn = create(lam)
    out = lam.get_function_code_signing_config(FunctionName=fn["FunctionName"])
    assert out["FunctionName"] == fn["FunctionName"] and out["CodeSigningConfigArn"] == ""
    by_arn = lam.get_function_code_signing_config(FunctionName=fn["FunctionArn"])
    assert by_arn["FunctionName"] == fn["FunctionName"]
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_code_signing_config(FunctionName=fn["FunctionName"] + "-missing")


def test_event_source_mapping_tags(server) -> None:  # type: ignore[no-untyped-def]
    lam = server.client("lambda")
    ddb = server.client("dynamodb")
    fn = create(lam)
    table = fn["FunctionName"] + "-src"
    stream = ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )["TableDescription"]["LatestStreamArn"]
    m = lam.create_event_source_mapping(
        FunctionName=fn["FunctionName"], EventSourceArn=stream, StartingPosition="LATEST", Tags={"a": "1"}
    )
    arn = m["EventSourceMappingArn"]
    assert lam.list_tags(Resource=arn)["Tags"] == {"a": "1"}
    lam.tag_resource(Resource=arn, Tags={"b": "2"})
    lam.untag_resource(Resource=arn, TagKeys=["a"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"b": "2"}
    lam.delete_event_source_mapping(UUID=m["UUID"])
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.list_tags(Resource=arn)
