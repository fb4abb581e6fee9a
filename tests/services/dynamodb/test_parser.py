"""The expression parser: the trees it builds and AWS's messages for what it refuses."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall.protocol.errors import ServiceError
from squall.services.dynamodb import ast
from squall.services.dynamodb.evaluate import matches, project
from squall.services.dynamodb.parser import Placeholders, parse_condition, parse_projection, parse_update
from squall.services.dynamodb.update import apply


def ph(names: dict[str, str] | None = None, **values: Any) -> Placeholders:
    return Placeholders(names, {f":{k}": v for k, v in values.items()})


def msg(fn: Any, *args: Any) -> str:
    with pytest.raises(ServiceError) as err:
        fn(*args)
    assert err.value.code == "ValidationException"
    return err.value.message


def test_precedence_and_parentheses() -> None:
    p = ph(a={"N": "1"})
    node = parse_condition("x = :a OR y = :a AND NOT z = :a", "ConditionExpression", p)
    assert isinstance(node, ast.Logical) and node.op == "OR"
    assert isinstance(node.right, ast.Logical) and node.right.op == "AND"
    assert isinstance(node.right.right, ast.Not)
    node = parse_condition("(x = :a OR y = :a) AND z = :a", "ConditionExpression", p)
    assert isinstance(node, ast.Logical) and node.op == "AND"


def test_functions_between_in_and_paths() -> None:
    p = ph({"#n": "name"}, a={"S": "x"}, b={"N": "1"}, c={"N": "2"})
    node = parse_condition(
        "attribute_exists(#n.child[2].deep) AND begins_with(#n, :a) AND size(l) BETWEEN :b AND :c AND k IN (:b, :c)",
        "ConditionExpression",
        p,
    )
    text = repr(node)
    assert "Path(parts=('name', 'child', 2, 'deep'))" in text
    assert "Between" in text and "In(" in text and "Size" in text
    assert p.used_names == {"#n"} and p.used_values == {":a", ":b", ":c"}


def test_update_clauses() -> None:
    p = ph(a={"N": "1"}, l={"L": []}, s={"SS": ["x"]})
    actions = parse_update(
        "SET x = if_not_exists(x, :a) + :a, y = list_append(y, :l) REMOVE z[1], q ADD n :a DELETE s :s", p
    )
    assert [a.verb for a in actions] == ["SET", "SET", "REMOVE", "REMOVE", "ADD", "DELETE"]
    assert isinstance(actions[0].value, ast.Arith)
    assert isinstance(actions[1].value, ast.ListAppend)


def test_syntax_errors() -> None:
    p = ph(a={"N": "1"})
    assert (
        msg(parse_update, "SET x = :a,", p)
        == 'Invalid UpdateExpression: Syntax error; token: "<EOF>", near: ","'
    )
    assert (
        msg(parse_update, "SET x :a", p)
        == 'Invalid UpdateExpression: Syntax error; token: ":a", near: "x :a"'
    )
    assert (
        msg(parse_condition, "x = = :a", "ConditionExpression", p)
        == 'Invalid ConditionExpression: Syntax error; token: "=", near: "= = :a"'
    )
    assert msg(parse_update, "SET numx = numx / :a", p) == (
        'Invalid UpdateExpression: Syntax error; token: "/", near: "numx / :a"'
    )
    assert (
        msg(parse_projection, "a b", p)
        == 'Invalid ProjectionExpression: Syntax error; token: "b", near: "a b"'
    )
    assert msg(parse_update, "SET x = :a SET y = :a", p) == (
        'Invalid UpdateExpression: The "SET" section can only be used once in an update expression;'
    )


def test_reserved_words_and_placeholders() -> None:
    assert msg(parse_update, "SET status = :a", ph(a={"N": "1"})) == (
        "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: status"
    )
    assert msg(parse_condition, "#x = :a", "ConditionExpression", ph(a={"N": "1"})) == (
        "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; "
        "attribute name: #x"
    )
    assert msg(parse_condition, "x = :b", "ConditionExpression", ph(a={"N": "1"})) == (
        "Invalid ConditionExpression: An expression attribute value used in expression is not defined; "
        "attribute value: :b"
    )
    p = ph({"#u": "u"}, a={"N": "1"}, x={"N": "2"})
    parse_condition("v = :a", "ConditionExpression", p)
    assert (
        msg(p.check_unused) == "Value provided in ExpressionAttributeNames unused in expressions: keys: {#u}"
    )


def test_overlapping_paths() -> None:
    p = ph(a={"N": "1"})
    assert msg(parse_update, "SET a.b = :a REMOVE a", p) == (
        "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of "
        "these paths; path one: [a, b], path two: [a]"
    )
    assert msg(parse_projection, "x, x", p).startswith(
        "Invalid ProjectionExpression: Two document paths overlap"
    )


def test_functions_in_wrong_place() -> None:
    p = ph(a={"N": "1"})
    what = "ConditionExpression"
    assert msg(parse_condition, "if_not_exists(x, :a) = :a", what, p) == (
        "Invalid ConditionExpression: The function is not allowed in a condition expression; function: if_not_exists"
    )
    assert msg(parse_condition, "size(x)", what, p) == (
        "Invalid ConditionExpression: The function is not allowed to be used this way in an expression; "
        "function: size"
    )
    assert msg(parse_update, "SET x = if_not_exists(:a, :a)", p) == (
        "Invalid UpdateExpression: Operator or function requires a document path; operator or function: "
        "if_not_exists"
    )
    assert msg(parse_condition, "((x = :a))", what, p) == (
        "Invalid ConditionExpression: The expression has redundant parentheses;"
    )
    parse_condition("((x = :a) OR (x < :a)) AND (x > :a)", what, p)
    assert msg(parse_condition, "x IN (" + ", ".join([":a"] * 101) + ")", what, p) == (
        "Invalid ConditionExpression: The IN operator is provided with too many operands; number of operands: 101"
    )
    assert "function: attribute_exists" in msg(parse_update, "SET x = attribute_exists(y)", p)
    assert "Invalid function name; function: foo" in msg(
        parse_condition, "foo(x) = :a", "ConditionExpression", p
    )


_WORDS = ["a", "b.c", "#n", ":v", "(", ")", ",", "=", "<>", "<", "AND", "OR", "NOT", "BETWEEN", "IN", "SET", "REMOVE",
          "ADD", "DELETE", "size", "begins_with", "if_not_exists", "list_append", "[", "]", "1", "+", "-", "status", "@"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_WORDS), max_size=12))
def test_any_input_parses_or_fails_cleanly(words: list[str]) -> None:
    source = " ".join(words)
    item = {"a": {"N": "2"}, "n": {"L": [{"S": "x"}]}, "b": {"M": {"c": {"S": "y"}}}, "status": {"S": "z"}}
    for fn in (
        lambda p: matches(item, parse_condition(source, "ConditionExpression", p)),
        lambda p: apply(item, parse_update(source, p)),
        lambda p: project(item, parse_projection(source, p)),
    ):
        try:
            fn(ph({"#n": "n"}, v={"N": "1"}))
        except ServiceError as exc:
            assert exc.code == "ValidationException"
