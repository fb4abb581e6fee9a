from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall.storage.keys import Part, pack, prefix_end, unpack

SETTINGS = settings(max_examples=400, deadline=None)

_BIG = 2**200
parts = st.one_of(
    st.none(),
    st.binary(max_size=12),
    st.text(max_size=12),
    st.integers(),
    st.integers(min_value=-_BIG, max_value=_BIG),
    st.sampled_from([0, 1, -1, 255, 256, -255, -256, 2**64 - 1, 2**64, -(2**64), 2**63, -(2**63)]),
)
tuples = st.lists(parts, max_size=5).map(tuple)

_RANK = {type(None): 0, bytes: 1, str: 2, int: 3}


def sort_key(t: tuple[Part, ...]) -> tuple[Any, ...]:
    """Python's tuple order with the documented type order between types;
    strings compare by code point."""
    return tuple((_RANK[type(p)], 0 if p is None else p) for p in t)


@SETTINGS
@given(tuples)
def test_round_trip(t: tuple[Part, ...]) -> None:
    assert unpack(pack(*t)) == t


@SETTINGS
@given(tuples, tuples)
def test_order_matches_tuple_order(a: tuple[Part, ...], b: tuple[Part, ...]) -> None:
    ka, kb = sort_key(a), sort_key(b)
    pa, pb = pack(*a), pack(*b)
    assert (pa < pb) == (ka < kb)
    assert (pa == pb) == (ka == kb)


@SETTINGS
@given(st.integers(), st.integers())
def test_int_order_any_size(a: int, b: int) -> None:
    assert (pack(a) < pack(b)) == (a < b)


@SETTINGS
@given(
    st.integers(min_value=-(2**3000), max_value=2**3000), st.integers(min_value=-(2**3000), max_value=2**3000)
)
def test_huge_int_order_and_round_trip(a: int, b: int) -> None:
    assert (pack(a) < pack(b)) == (a < b)
    assert unpack(pack(a)) == (a,)


@SETTINGS
@given(st.text(), st.text())
def test_str_order_is_code_point_order(a: str, b: str) -> None:
    assert (pack(a) < pack(b)) == (a < b)


@SETTINGS
@given(tuples, tuples)
def test_prefix_property(head: tuple[Part, ...], tail: tuple[Part, ...]) -> None:
    whole = pack(*head, *tail)
    assert whole.startswith(pack(*head))
    if tail:
        assert pack(*head) < whole
        end = prefix_end(pack(*head))
        assert end is None or whole < end


def test_examples() -> None:
    assert pack("a") < pack("a", None) < pack("a", b"") < pack("a", "") < pack("a", 0)
    assert pack("a", "z") < pack("a\x00")
    assert pack(-(2**70)) < pack(-5) < pack(0) < pack(5) < pack(2**70)
    assert pack(b"a\x00b") != pack(b"a", b"b")
    assert unpack(b"") == ()
    assert unpack(pack("\ud800")) == ("\ud800",)


def test_bad_inputs() -> None:
    with pytest.raises(TypeError):
        pack(True)
    with pytest.raises(TypeError):
        pack(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        unpack(b"\x02abc")
    with pytest.raises(ValueError):
        unpack(b"\x7f")
    with pytest.raises(ValueError):
        unpack(b"\x16\x01")


def test_prefix_end() -> None:
    assert prefix_end(b"ab") == b"ac"
    assert prefix_end(b"a\xff\xff") == b"b"
    assert prefix_end(b"\xff") is None
    assert prefix_end(b"") is None
