"""Patterns each dialect refuses, with the message AWS gives."""

from __future__ import annotations

from typing import Any

import pytest

from squall.eventpattern import PatternError, compile_pattern
from squall.eventpattern.errors import Dialect

EB = "Event pattern is not valid. Reason: "
SNS = "Invalid parameter: FilterPolicy: "


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ([1, 2], "Filter is not an object"),
        ({"a": "x"}, '"a" must be an object or an array'),
        ({"a": 5}, '"a" must be an object or an array'),
        ({"a": []}, "Empty arrays are not allowed"),
        ({"a": [[1]]}, "Match value must be String, number, true, false, or null"),
        ({"a": [{"prefix": "x", "suffix": "y"}]}, "Only one key allowed in match expression"),
        ({"a": [{"contains": "x"}]}, "Unrecognized match type contains"),
        ({"a": [{"prefix": 5}]}, "prefix match pattern must be a string"),
        ({"a": [{"suffix": None}]}, "suffix match pattern must be a string"),
        ({"a": [{"equals-ignore-case": ["x"]}]}, "equals-ignore-case match pattern must be a string"),
        ({"a": [{"exists": "yes"}]}, "exists match pattern must be either true or false."),
        ({"a": [{"numeric": []}]}, "Invalid member in numeric match: ]"),
        ({"a": [{"numeric": [5]}]}, "Invalid member in numeric match: 5"),
        ({"a": [{"numeric": ["!=", 5]}]}, "Unrecognized numeric range operator: !="),
        ({"a": [{"numeric": ["=", "5"]}]}, "Value of equals must be numeric"),
        ({"a": [{"numeric": [">"]}]}, "Value of > must be numeric"),
        ({"a": [{"numeric": ["<", 5, ">", 1]}]}, "Too many elements in numeric expression"),
        ({"a": [{"numeric": [">", 5, 6, 1]}]}, "Bad value in numeric range: 6"),
        ({"a": [{"numeric": [">", 5, ">", 1]}]}, "Bad numeric range operator: >"),
        ({"a": [{"numeric": [">", 5, "<", 1]}]}, "Bottom must be less than top"),
        ({"a": [{"numeric": [">", 0, "<", 1, "<", 2]}]}, "Too many terms in numeric range expression"),
        (
            {"a": [{"anything-but": True}]},
            "Value of anything-but must be an array or single string/number value.",
        ),
        ({"a": [{"anything-but": [None]}]}, "Inside anything but list, start|null|boolean is not supported."),
        ({"a": [{"anything-but": {"numeric": [">", 1]}}]}, "Unsupported anything-but pattern: numeric"),
        ({"a": [{"wildcard": "a**b"}]}, "Consecutive wildcard characters at pos 2"),
        ({"a": [{"wildcard": "a\\b"}]}, "Invalid escape character at pos 1"),
        ({"a": [{"cidr": "10.0.0.0"}]}, "Malformed CIDR, one '/' required"),
        ({"a": [{"cidr": "10.0.0.0/x"}]}, "Malformed CIDR, mask bits must be an integer"),
        ({"a": [{"cidr": "10.0.0.300/24"}]}, "Nonstandard IP address: 10.0.0.300"),
    ],
)
def test_eventbridge_refuses(pattern: Any, reason: str) -> None:
    with pytest.raises(PatternError) as err:
        compile_pattern(pattern, dialect="eventbridge")
    assert err.value.reason == reason
    assert err.value.message == EB + reason
    assert str(err.value) == EB + reason


def test_invalid_json() -> None:
    with pytest.raises(PatternError) as err:
        compile_pattern("{not json", dialect="eventbridge")
    assert err.value.message.startswith(EB)


@pytest.mark.parametrize(
    ("policy", "reason"),
    [
        ({k: ["v"] for k in "abcdef"}, "Filter policy can not have more than 5 keys"),
        ({"a": list(range(10)), "b": list(range(16))}, "Filter policy is too complex"),
        (
            # AWS's example: 4 values three levels down, 3 values two levels down: 3*4*2*3 = 72.
            {"a": {"b": {"c": [1, 2, 3, 4]}}, "d": {"e": [1, 2, 3]}, "f": list(range(3))},
            "Filter policy is too complex",  # 72 * 3 = 216
        ),
        ({"a": [{"prefix": {"equals-ignore-case": "x"}}]}, "prefix match pattern must be a string"),
        ({"a": [{"anything-but": {"wildcard": "x*"}}]}, "Unsupported anything-but pattern: wildcard"),
        (
            {"a": [{"anything-but": {"equals-ignore-case": "x"}}]},
            "Unsupported anything-but pattern: equals-ignore-case",
        ),
    ],
)
def test_sns_refuses(policy: dict[str, Any], reason: str) -> None:
    with pytest.raises(PatternError) as err:
        compile_pattern(policy, dialect="sns", scope="MessageBody")
    assert err.value.message == SNS + reason


def test_sns_complexity_within_limit() -> None:
    compile_pattern(
        {"a": {"b": {"c": [1, 2, 3, 4]}}, "d": {"e": [1, 2, 3]}}, dialect="sns", scope="MessageBody"
    )
    compile_pattern({"a": list(range(10)), "b": list(range(15))}, dialect="sns")


def test_sns_attribute_scope_refuses_nesting() -> None:
    with pytest.raises(PatternError) as err:
        compile_pattern({"a": {"b": ["x"]}}, dialect="sns", scope="MessageAttributes")
    assert err.value.message == (
        "Invalid parameter: Filter policy scope MessageAttributes does not support nested filter policy"
    )
    compile_pattern({"a": {"b": ["x"]}}, dialect="sns", scope="MessageBody")
    compile_pattern({"a": {"b": ["x"]}}, dialect="sns")


@pytest.mark.parametrize(
    "pattern",
    [
        {"body": [{"wildcard": "a*"}]},
        {"body": [{"cidr": "10.0.0.0/8"}]},
        {"body": [{"anything-but": {"prefix": "x"}}]},
        {"body": [{"prefix": {"equals-ignore-case": "x"}}]},
        {"body": []},
        {"body": "x"},
        "not json",
    ],
)
def test_lambda_refuses(pattern: Any) -> None:
    with pytest.raises(PatternError) as err:
        compile_pattern(pattern, dialect="lambda")
    assert err.value.message == "Invalid filter pattern definition."
    assert err.value.reason


@pytest.mark.parametrize("dialect", ["eventbridge", "sns", "lambda"])
def test_accepted_everywhere(dialect: Dialect) -> None:
    pattern = {
        "a": ["x", 1, True, None, ""],
        "b": [{"prefix": "p"}, {"suffix": "s"}, {"equals-ignore-case": "E"}],
        "c": [{"anything-but": ["x", "y"]}, {"numeric": [">=", 0, "<", 10]}],
        "d": [{"exists": False}],
    }
    compile_pattern(pattern, dialect=dialect)


def test_unknown_dialect() -> None:
    with pytest.raises(ValueError, match="dialect"):
        compile_pattern({}, dialect="sqs")  # type: ignore[arg-type]
