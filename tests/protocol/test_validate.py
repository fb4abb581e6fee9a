"""Model-driven input validation: AWS's codes and message formats per service."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from squall.protocol.errors import ServiceError
from squall.protocol.models import SERVED_SERVICES, service_model
from squall.protocol.types import Protocol, Route
from squall.protocol.validate import validate_input, violations
from tests.protocol import strategies

LAMBDA = Protocol.REST_JSON


def _error(service: str, operation: str, params: dict[str, Any], protocol: Protocol = LAMBDA) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        validate_input(Route(service, operation, protocol), params)
    return info.value


def test_missing_required_member_lambda() -> None:
    err = _error("lambda", "GetFunction", {})
    assert (err.code, err.status) == ("ValidationException", 400)
    assert err.message == (
        "1 validation error detected: Value null at 'functionName' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_several_errors_counted_and_joined() -> None:
    err = _error(
        "lambda",
        "CreateFunction",
        {
            "FunctionName": "f",
            "Role": "arn:aws:iam::123456789012:role/r",
            "Code": {},
            "Timeout": 0,
            "MemorySize": 99999,
        },
    )
    assert err.message.startswith("2 validation errors detected: ")
    assert (
        "Value 0 at 'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1"
        in err.message
    )
    assert (
        "Value 99999 at 'memorySize' failed to satisfy constraint: "
        "Member must have value less than or equal to 32768" in err.message
    )
    assert "; " in err.message


def test_enum_and_pattern_and_length() -> None:
    base = {"Role": "arn:aws:iam::123456789012:role/r", "Code": {}}
    err = _error("lambda", "CreateFunction", {**base, "FunctionName": "bad name!", "Runtime": "cobol"})
    assert (
        "Value 'bad name!' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:"
        in err.message
    )
    # Lambda checks the runtime after the other members (awslabs/amazon-redshift-monitoring#25 records
    # its own error for it): not part of the front end's ValidationException
    assert err.code == "ValidationException" and "'runtime'" not in err.message
    err = _error("lambda", "CreateFunction", {**base, "FunctionName": "f", "Runtime": "cobol"})
    assert err.code == "InvalidParameterValueException" and err.message.startswith(
        "Value cobol at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [nodejs, "
    )
    assert err.message.endswith("] or be a valid ARN")
    err = _error("lambda", "CreateFunction", {**base, "FunctionName": "x" * 141})
    assert "Member must have length less than or equal to 140" in err.message


def test_nested_paths_lists_and_sensitive_maps() -> None:
    err = _error(
        "dynamodb",
        "CreateTable",
        {"TableName": "t", "KeySchema": [{"AttributeName": "id"}], "AttributeDefinitions": []},
        Protocol.JSON,
    )
    assert (
        "Value null at 'keySchema.1.member.keyType' failed to satisfy constraint: Member must not be null"
        in err.message
    )
    err = _error(
        "lambda",
        "CreateFunction",
        {
            "FunctionName": "f",
            "Role": "arn:aws:iam::123456789012:role/r",
            "Code": {},
            "Environment": {"Variables": {"1bad": "v"}},
        },
    )
    # sensitive shapes never echo their value
    assert err.message == (
        "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: "
        "Map key must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]"
    )


def test_wrong_python_type() -> None:
    found = violations(Route("lambda", "GetFunction", LAMBDA), {"FunctionName": 5})
    assert [v.constraint for v in found] == ["Member must be of type string"]


def test_valid_input_passes() -> None:
    validate_input(Route("lambda", "GetFunction", LAMBDA), {"FunctionName": "my-function"})
    validate_input(
        Route("dynamodb", "PutItem", Protocol.JSON),
        {"TableName": "t", "Item": {"id": {"S": "1"}, "n": {"M": {"x": {"N": "1"}}}}},
    )


def test_query_services() -> None:
    err = _error("iam", "CreateUser", {}, Protocol.QUERY)
    assert (err.code, err.status) == ("ValidationError", 400)
    assert err.message.endswith(
        "Value null at 'userName' failed to satisfy constraint: Member must not be null"
    )
    err = _error("sts", "AssumeRole", {"RoleArn": "arn:aws:iam::123456789012:role/r"}, Protocol.QUERY)
    assert err.code == "ValidationError"
    err = _error("sns", "Publish", {}, Protocol.QUERY)
    assert err.code == "ValidationError"
    assert err.message == (
        "1 validation error detected: Value null at 'message' failed to satisfy constraint: Member must not be null"
    )
    err = _error("sns", "ListTopics", {"NextToken": 5}, Protocol.QUERY)
    assert err.code == "InvalidParameter"
    assert err.message == "Invalid parameter: NextToken Reason: Member must be of type string"


def test_cloudwatch_query_compatible_codes() -> None:
    for protocol in (Protocol.CBOR, Protocol.JSON, Protocol.QUERY):
        err = _error("cloudwatch", "PutMetricData", {}, protocol)
        assert (err.code, err.message) == ("MissingParameter", "The parameter Namespace is required.")


def test_s3_errors() -> None:
    err = _error("s3", "PutObject", {"Bucket": "b", "Key": "k", "ACL": "everyone"}, Protocol.REST_XML)
    assert err.code == "InvalidArgument"
    assert err.fields == {"ArgumentName": "x-amz-acl", "ArgumentValue": "everyone"}
    err = _error("s3", "PutBucketTagging", {"Bucket": "b"}, Protocol.REST_XML)
    assert err.code == "MalformedXML"
    assert err.message.startswith("The XML you provided was not well-formed")
    err = _error("s3", "CopyObject", {"Bucket": "b", "Key": "k"}, Protocol.REST_XML)
    assert (err.code, err.message) == (
        "InvalidRequest",
        "Missing required header for this request: x-amz-copy-source",
    )


def test_timestamps_and_documents_are_accepted() -> None:
    now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    validate_input(
        Route("logs", "GetLogEvents", Protocol.JSON),
        {"logGroupName": "g", "logStreamName": "s", "startTime": 0, "endTime": 1},
    )
    validate_input(
        Route("cloudwatch", "GetMetricStatistics", Protocol.QUERY),
        {"Namespace": "n", "MetricName": "m", "StartTime": now, "EndTime": now, "Period": 60},
    )


_OPS = [(s, o) for s in SERVED_SERVICES for o in service_model(s).operation_names]


@pytest.mark.parametrize(("service", "operation"), _OPS[::7])
@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=st.data())
def test_generated_inputs_break_no_structural_constraint(
    service: str, operation: str, data: st.DataObject
) -> None:
    """Inputs the shape strategies build carry every required member, the
    right types and enum values (they ignore patterns, float ranges and list
    minimums past their depth limit, so those are not asserted here)."""
    shape = service_model(service).operation_model(operation).input_shape
    params = data.draw(strategies.values(shape)) if shape is not None else {}
    found = violations(Route(service, operation, Protocol.JSON), params)
    asserted = ("must not be null", "enum value set", "must be of type")
    assert [v for v in found if any(a in v.constraint for a in asserted)] == []


# Typed trees (json, CBOR): the decoders guarantee each value's type, so the checks skip
# subtrees where nothing but a type could be wrong; what they report must not change.

_LONG = "k" * 65536
_TYPED_CASES = [
    (
        "dynamodb",
        "PutItem",
        {"TableName": "t", "Item": {"a": {"L": [{"M": {"x": {"M": {_LONG: {"S": "v"}}}}}]}}},
    ),
    ("dynamodb", "PutItem", {"TableName": "t!", "Item": {_LONG: {"S": "v"}}, "ReturnValues": "SOME"}),
    (
        "dynamodb",
        "GetItem",
        {"TableName": "", "Key": {"id": {"B": b"\x00"}, "m": {"M": {_LONG: {"N": "1"}}}}},
    ),
    ("dynamodb", "BatchWriteItem", {"RequestItems": {"t": [{"PutRequest": {}}] * 26}}),
    ("dynamodb", "Query", {"TableName": "t", "Limit": 0, "ExpressionAttributeNames": {"#" + _LONG: "a"}}),
    ("dynamodb", "TransactWriteItems", {"TransactItems": [{"Put": {"Item": {"a": {"SS": ["x"]}}}}]}),
    ("lambda", "CreateFunction", {"FunctionName": "f", "Role": "r", "Code": {}, "Timeout": 0}),
    ("logs", "PutLogEvents", {"logGroupName": "g", "logStreamName": "s", "logEvents": [{"timestamp": 1}]}),
]


@pytest.mark.parametrize(("service", "operation", "params"), _TYPED_CASES)
def test_typed_protocols_report_the_same_violations(
    service: str, operation: str, params: dict[str, Any]
) -> None:
    typed = violations(Route(service, operation, Protocol.JSON), params)
    untyped = violations(Route(service, operation, Protocol.REST_JSON), params)
    assert typed == untyped
    assert typed  # every case breaks something


def test_typed_protocols_find_a_long_attribute_name_nested_deep() -> None:
    found = violations(Route("dynamodb", "PutItem", Protocol.JSON), _TYPED_CASES[0][2])
    assert [(v.path, v.constraint[:45]) for v in found] == [
        ("item.a.l.1.member.m.x.m", "Map key must satisfy constraint: [Member must")
    ]


@pytest.mark.parametrize(("service", "operation"), _OPS[::11])
@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=st.data())
def test_typed_protocols_agree_on_generated_inputs(service: str, operation: str, data: st.DataObject) -> None:
    shape = service_model(service).operation_model(operation).input_shape
    params = data.draw(strategies.values(shape)) if shape is not None else {}
    typed = violations(Route(service, operation, Protocol.JSON), params)
    assert typed == violations(Route(service, operation, Protocol.REST_JSON), params)
