"""Table-driven matching cases, most from AWS's EventBridge, SNS and Lambda filtering examples."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from squall.eventpattern import compile_pattern

EC2_EVENT = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "111122223333",
    "time": "2017-12-22T18:43:48Z",
    "region": "us-west-1",
    "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
    "detail": {
        "instance-id": "i-1234567890abcdef0",
        "state": "terminated",
        "c-count": 5,
        "d-count": 0,
        "x-limit": 301.8,
        "source-ip": "10.0.0.123",
        "FileName": "Image.PNG",
        "location": "New York",
        "is-enabled": True,
        "nothing": None,
        "empty": "",
        "tags": ["red", "green"],
        "matrix": [["a", "b"], ["c"]],
        "items": [{"name": "x", "qty": 1}, {"name": "y", "qty": 7}],
    },
}

# (pattern, matches EC2_EVENT?)
CASES: list[tuple[dict[str, Any], bool]] = [
    # exact values, AND across keys, OR across values
    ({"source": ["aws.ec2"]}, True),
    ({"source": ["aws.s3"]}, False),
    ({"source": ["aws.s3", "aws.ec2"]}, True),
    ({"source": ["aws.ec2"], "region": ["eu-west-1"]}, False),
    ({"source": ["aws.ec2"], "detail": {"state": ["terminated"]}}, True),
    ({"detail": {"state": ["Terminated"]}}, False),
    ({"detail": {"c-count": [5]}}, True),
    ({"detail": {"c-count": [5.0]}}, True),
    ({"detail": {"c-count": ["5"]}}, False),
    ({"detail": {"is-enabled": [True]}}, True),
    ({"detail": {"is-enabled": [False]}}, False),
    ({"detail": {"is-enabled": ["true"]}}, False),
    ({"detail": {"nothing": [None]}}, True),
    ({"detail": {"absent": [None]}}, False),
    ({"detail": {"empty": [""]}}, True),
    ({"detail": {"state": [""]}}, False),
    # arrays in the event: any element
    ({"resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"]}, True),
    ({"detail": {"tags": ["green"]}}, True),
    ({"detail": {"tags": ["blue"]}}, False),
    ({"detail": {"matrix": ["c"]}}, True),
    ({"detail": {"items": {"name": ["y"], "qty": [7]}}}, True),
    ({"detail": {"items": {"name": ["x"], "qty": [7]}}}, False),  # one element must match it all
    # prefix / suffix
    ({"time": [{"prefix": "2017-12-22"}]}, True),
    ({"time": [{"prefix": "2018"}]}, False),
    ({"detail": {"FileName": [{"suffix": ".PNG"}]}}, True),
    ({"detail": {"FileName": [{"suffix": ".png"}]}}, False),
    ({"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}}, True),
    ({"detail": {"FileName": [{"prefix": {"equals-ignore-case": "image"}}]}}, True),
    ({"detail": {"c-count": [{"prefix": "5"}]}}, False),
    # equals-ignore-case
    ({"detail": {"location": [{"equals-ignore-case": "new york"}]}}, True),
    ({"detail": {"location": [{"equals-ignore-case": "boston"}]}}, False),
    # anything-but
    ({"detail": {"state": [{"anything-but": "initializing"}]}}, True),
    ({"detail": {"state": [{"anything-but": "terminated"}]}}, False),
    ({"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}, True),
    ({"detail": {"state": [{"anything-but": ["stopped", "terminated"]}]}}, False),
    ({"detail": {"c-count": [{"anything-but": 123}]}}, True),
    ({"detail": {"c-count": [{"anything-but": [5, 6]}]}}, False),
    ({"detail": {"missing": [{"anything-but": "x"}]}}, False),
    ({"region": [{"anything-but": {"prefix": "us-"}}]}, False),
    ({"region": [{"anything-but": {"prefix": "eu-"}}]}, True),
    ({"detail": {"FileName": [{"anything-but": {"suffix": ".PNG"}}]}}, False),
    ({"detail": {"FileName": [{"anything-but": {"suffix": ".jpg"}}]}}, True),
    ({"detail": {"state": [{"anything-but": {"equals-ignore-case": "TERMINATED"}}]}}, False),
    ({"detail": {"state": [{"anything-but": {"equals-ignore-case": ["a", "B"]}}]}}, True),
    ({"detail": {"FileName": [{"anything-but": {"wildcard": "*.PNG"}}]}}, False),
    ({"detail": {"FileName": [{"anything-but": {"wildcard": ["*/lib/*", "x*"]}}]}}, True),
    # numeric
    ({"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}}, True),
    ({"detail": {"c-count": [{"numeric": [">", 5]}]}}, False),
    ({"detail": {"c-count": [{"numeric": [">=", 5]}]}}, True),
    ({"detail": {"d-count": [{"numeric": ["<", 10]}]}}, True),
    ({"detail": {"x-limit": [{"numeric": ["=", 301.8]}]}}, True),
    ({"detail": {"x-limit": [{"numeric": ["=", 301]}]}}, False),
    ({"detail": {"state": [{"numeric": [">", 0]}]}}, False),
    ({"detail": {"is-enabled": [{"numeric": ["=", 1]}]}}, False),
    # exists
    ({"detail": {"c-count": [{"exists": True}]}}, True),
    ({"detail": {"c-count": [{"exists": False}]}}, False),
    ({"detail": {"absent": [{"exists": False}]}}, True),
    ({"detail": {"absent": [{"exists": True}]}}, False),
    ({"nowhere": {"absent": [{"exists": False}]}}, True),
    ({"detail": [{"exists": True}]}, False),  # exists only looks at leaf nodes
    ({"detail": {"nothing": [{"exists": True}]}}, True),
    # wildcard
    ({"detail": {"FileName": [{"wildcard": "Image.*"}]}}, True),
    ({"detail": {"FileName": [{"wildcard": "*.png"}]}}, False),
    ({"detail": {"instance-id": [{"wildcard": "i-*-*"}]}}, False),
    ({"detail": {"instance-id": [{"wildcard": "i-*0"}]}}, True),
    # cidr
    ({"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}, True),
    ({"detail": {"source-ip": [{"cidr": "10.0.1.0/24"}]}}, False),
    ({"detail": {"source-ip": [{"cidr": "2001:db8::/32"}]}}, False),
    # $or, top-level and nested
    ({"$or": [{"source": ["aws.s3"]}, {"detail": {"c-count": [5]}}]}, True),
    ({"$or": [{"source": ["aws.s3"]}, {"detail": {"c-count": [6]}}]}, False),
    ({"source": ["aws.ec2"], "detail": {"$or": [{"state": ["x"]}, {"d-count": [0]}]}}, True),
    ({"source": ["aws.s3"], "$or": [{"region": ["us-west-1"]}, {"account": ["1"]}]}, False),
    # mixed condition lists are ORed
    ({"detail": {"state": [{"prefix": "run"}, "terminated"]}}, True),
    ({"detail": {"c-count": [{"exists": False}, {"numeric": ["<", 0]}]}}, False),
]


@pytest.mark.parametrize(("pattern", "expected"), CASES)
def test_eventbridge_examples(pattern: dict[str, Any], expected: bool) -> None:
    assert compile_pattern(pattern, dialect="eventbridge").matches(EC2_EVENT) is expected


IPV6_EVENT = {"detail": {"sourceIPAddress": "2001:db8:1::ab9:C0A8:102"}}


def test_cidr_ipv6() -> None:
    assert compile_pattern(
        {"detail": {"sourceIPAddress": [{"cidr": "2001:db8::/32"}]}}, dialect="eventbridge"
    ).matches(IPV6_EVENT)
    assert not compile_pattern(
        {"detail": {"sourceIPAddress": [{"cidr": "2001:db9::/32"}]}}, dialect="eventbridge"
    ).matches(IPV6_EVENT)


@pytest.mark.parametrize(
    ("wildcard", "value", "expected"),
    [
        ("dir/*.png", "dir/a.png", True),
        ("dir/*.png", "dir/sub/a.png", True),
        ("dir/*.png", "dir/a.jpg", False),
        ("*", "", True),
        ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False),
        ("a\\\\b", "a\\b", True),
        ("us-*-1", "us-east-1", True),
        ("us-*-1", "us-east-2", False),
        ("x.y", "xzy", False),
    ],
)
def test_wildcard_escaping(wildcard: str, value: str, expected: bool) -> None:
    pattern = compile_pattern({"f": [{"wildcard": wildcard}]}, dialect="eventbridge")
    assert pattern.matches({"f": value}) is expected


SNS_ATTRS = {
    "customer_interests": ["rugby", "football", "baseball"],
    "store": "example_corp",
    "event": "order_placed",
    "price_usd": 210.75,
    "quantity": Decimal("3"),
    "source_ip": "192.0.2.7",
}


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({"store": ["example_corp"], "event": ["order_placed"]}, True),
        ({"customer_interests": ["rugby"]}, True),
        ({"customer_interests": ["tennis"]}, False),
        ({"customer_interests": [{"prefix": "bas"}]}, True),
        ({"price_usd": [{"numeric": [">=", 100]}]}, True),
        ({"price_usd": [{"numeric": [">", 0, "<=", 150]}]}, False),
        ({"price_usd": [210.75]}, True),
        ({"price_usd": ["210.75"]}, False),
        ({"quantity": [3]}, True),
        ({"quantity": [{"numeric": ["=", 3]}]}, True),
        ({"store": [{"exists": True}]}, True),
        ({"encrypted": [{"exists": False}]}, True),
        ({"store": [{"anything-but": ["example_corp", "x"]}]}, False),
        ({"event": [{"anything-but": {"prefix": "order-"}}]}, True),
        ({"event": [{"anything-but": {"suffix": "_placed"}}]}, False),
        ({"event": [{"equals-ignore-case": "ORDER_PLACED"}]}, True),
        ({"event": [{"suffix": "placed"}]}, True),
        ({"source_ip": [{"cidr": "192.0.2.0/24"}]}, True),
        ({"store": [{"wildcard": "ex*corp"}]}, True),
        ({"$or": [{"store": ["other"]}, {"event": ["order_placed"]}]}, True),
    ],
)
def test_sns_attribute_policies(policy: dict[str, Any], expected: bool) -> None:
    pattern = compile_pattern(policy, dialect="sns", scope="MessageAttributes")
    assert pattern.matches(SNS_ATTRS) is expected


def test_sns_payload_policy_nested() -> None:
    policy = {"Payment": {"Method": ["Credit"], "Amount": [{"numeric": [">", 100]}]}}
    pattern = compile_pattern(policy, dialect="sns", scope="MessageBody")
    assert pattern.matches({"Payment": {"Method": "Credit", "Amount": 250}})
    assert not pattern.matches({"Payment": {"Method": "Debit", "Amount": 250}})
    assert not pattern.matches({"Payment": "Credit"})


@pytest.mark.parametrize(
    ("pattern", "record", "expected"),
    [
        ({"body": {"RequestCode": ["BBBB"]}}, {"body": {"RequestCode": "BBBB"}}, True),
        ({"body": {"RequestCode": ["BBBB"]}}, {"body": {"RequestCode": "AAAA"}}, False),
        ({"body": ["plain text"]}, {"body": "plain text"}, True),
        ({"body": {"Location": [{"prefix": "New"}]}}, {"body": "New York"}, False),
        (
            {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"id": {"BOOL": [True]}}}},
            {"eventName": "INSERT", "dynamodb": {"NewImage": {"id": {"BOOL": True}}}},
            True,
        ),
        ({"data": {"Temperature": [{"numeric": [">", 30]}]}}, {"data": {"Temperature": 31}}, True),
        ({"body": {"Price": [{"anything-but": [0]}]}}, {"body": {"Price": 10}}, True),
        ({"body": {"Name": [{"equals-ignore-case": "ALICE"}]}}, {"body": {"Name": "alice"}}, True),
        ({"body": {"x": [{"exists": False}]}}, {"body": {"y": 1}}, True),
    ],
)
def test_lambda_filter_patterns(pattern: dict[str, Any], record: dict[str, Any], expected: bool) -> None:
    assert compile_pattern(pattern, dialect="lambda").matches(record) is expected


def test_pattern_from_json_string() -> None:
    pattern = compile_pattern('{"detail": {"c-count": [{"numeric": [">", 4]}]}}', dialect="eventbridge")
    assert pattern.matches(EC2_EVENT)


def test_any_mapping_and_decimal_events() -> None:
    from types import MappingProxyType

    pattern = compile_pattern({"a": {"b": [{"numeric": [">", 1.5]}], "c": [2]}}, dialect="eventbridge")
    assert pattern.matches(MappingProxyType({"a": MappingProxyType({"b": Decimal("1.6"), "c": Decimal(2)})}))
    assert not pattern.matches({"a": {"b": Decimal("1.5"), "c": 2}})


def test_anything_but_over_event_arrays_and_types() -> None:
    pattern = compile_pattern({"tags": [{"anything-but": "red"}]}, dialect="eventbridge")
    assert pattern.matches({"tags": ["red", "green"]})
    assert not pattern.matches({"tags": ["red", "red"]})
    assert not pattern.matches({"tags": []})
    numeric = compile_pattern({"n": [{"anything-but": 5}]}, dialect="eventbridge")
    assert numeric.matches({"n": "5"})
    assert not numeric.matches({"n": 5.0})


def test_exists_on_empty_array_and_null() -> None:
    absent = compile_pattern({"a": [{"exists": False}]}, dialect="sns", scope="MessageBody")
    present = compile_pattern({"a": [{"exists": True}]}, dialect="sns", scope="MessageBody")
    assert absent.matches({"a": []}) and not present.matches({"a": []})
    assert present.matches({"a": None}) and not absent.matches({"a": None})
