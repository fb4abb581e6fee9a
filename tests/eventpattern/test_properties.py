"""Hypothesis properties of the matcher."""

from __future__ import annotations

import string
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from squall.eventpattern import compile_pattern

FAST = settings(max_examples=150, deadline=None)

keys = st.text(alphabet=string.ascii_letters + "-_", min_size=1, max_size=8).filter(lambda k: k != "$or")
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**9), max_value=10**9),
    st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
    st.text(max_size=12),
)
events = st.recursive(
    st.dictionaries(keys, st.one_of(scalars, st.lists(scalars, min_size=1, max_size=4)), max_size=4),
    lambda children: st.dictionaries(keys, st.one_of(scalars, children), max_size=4),
    max_leaves=12,
)


def pattern_from(event: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    pattern: dict[str, Any] = {}
    for key, value in event.items():
        if isinstance(value, dict):
            sub = pattern_from(value, data)
            if sub:
                pattern[key] = sub
        elif isinstance(value, list):
            pattern[key] = [data.draw(st.sampled_from(value))]
        else:
            pattern[key] = [value]
    return pattern


@FAST
@given(events, st.data(), st.sampled_from(["eventbridge", "lambda"]))
def test_pattern_of_own_leaves_matches(event: dict[str, Any], data: st.DataObject, dialect: Any) -> None:
    pattern = pattern_from(event, data)
    assert compile_pattern(pattern, dialect=dialect).matches(event)


flat_events = st.dictionaries(keys, st.one_of(scalars, st.lists(scalars, min_size=1, max_size=4)), max_size=5)


@FAST
@given(flat_events, st.data(), st.sampled_from(["MessageAttributes", "MessageBody"]))
def test_pattern_of_own_leaves_matches_sns(event: dict[str, Any], data: st.DataObject, scope: Any) -> None:
    pattern = pattern_from(event, data)
    assert compile_pattern(pattern, dialect="sns", scope=scope).matches(event)


excludable = st.one_of(
    st.integers(-(10**9), 10**9), st.floats(-1e9, 1e9, allow_nan=False), st.text(max_size=10)
)


@FAST
@given(excludable, st.lists(excludable, max_size=3))
def test_anything_but_never_matches_its_value(value: Any, others: list[Any]) -> None:
    same_kind = [o for o in others if isinstance(o, str) == isinstance(value, str)]
    for arg in (value, [value, *same_kind]):
        pattern = compile_pattern({"f": [{"anything-but": arg}]}, dialect="eventbridge")
        assert not pattern.matches({"f": value})
        assert not pattern.matches({})


@FAST
@given(st.text(alphabet=string.ascii_letters + string.digits + "*\\.-", max_size=12), st.integers(0, 12))
def test_affixes_of_a_string_match_it(text: str, cut: int) -> None:
    head, tail = text[:cut], text[cut:]
    event = {"f": text}
    assert compile_pattern({"f": [{"prefix": head}]}, dialect="eventbridge").matches(event)
    assert compile_pattern({"f": [{"suffix": tail}]}, dialect="eventbridge").matches(event)
    assert compile_pattern({"f": [{"equals-ignore-case": text.swapcase()}]}, dialect="eventbridge").matches(
        event
    )
    literal = text.replace("\\", "\\\\").replace("*", "\\*")
    exact_wildcard = compile_pattern({"f": [{"wildcard": literal}]}, dialect="eventbridge")
    assert exact_wildcard.matches(event)
    assert not exact_wildcard.matches({"f": text + "x"})
    assert not compile_pattern({"f": [{"anything-but": {"prefix": head}}]}, dialect="eventbridge").matches(
        event
    )


@FAST
@given(
    st.floats(-1e9, 1e9, allow_nan=False),
    st.floats(-1e9, 1e9, allow_nan=False),
    st.floats(-1e9, 1e9, allow_nan=False),
)
def test_numeric_range_is_the_comparison(x: float, a: float, b: float) -> None:
    lo, hi = min(a, b), max(a, b)
    if lo == hi:
        hi = lo + 1
    pattern = compile_pattern({"f": [{"numeric": [">", lo, "<=", hi]}]}, dialect="sns")
    assert pattern.matches({"f": x}) is (lo < x <= hi)
    assert not pattern.matches({"f": str(x)})


@FAST
@given(st.text(max_size=8), st.text(max_size=8))
def test_exact_string_only_matches_itself(a: str, b: str) -> None:
    pattern = compile_pattern({"f": [a]}, dialect="lambda")
    assert pattern.matches({"f": b}) is (a == b)
    assert pattern.matches({"f": [b, a]})
