"""Hypothesis strategies that build values for any botocore shape.

Used by the codec round-trip tests: inputs are generated here, botocore
serializes them (requests) or parses what we serialized (responses).

`values(shape)` respects what the model says (enums, lengths, ranges,
required members, unions) and keeps values inside what every protocol can
carry losslessly: finite floats that survive a text round trip, UTC
timestamps with whole milliseconds, header strings of printable ASCII.
"""

from __future__ import annotations

import datetime as dt
import string
from typing import Any

from botocore.model import Shape
from hypothesis import strategies as st

MAX_DEPTH = 4
_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)
_HEADER_TEXT = st.text(alphabet=string.ascii_letters + string.digits + "-_.:/", min_size=1, max_size=12)


def _bounded_text(shape: Shape, header: bool) -> st.SearchStrategy[str]:
    lo = int(shape.metadata.get("min", 0) or 0)
    hi = shape.metadata.get("max")
    base = _HEADER_TEXT if header else _TEXT
    lo = max(lo, 1) if header else lo
    top = min(int(hi), lo + 12) if hi is not None else lo + 12
    top = max(top, lo)
    alphabet = (
        string.ascii_letters + string.digits + "-_.:/"
        if header
        else st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
    )
    if lo == 0 and hi is None:
        return base
    return st.text(alphabet=alphabet, min_size=lo, max_size=top)


def _timestamps() -> st.SearchStrategy[dt.datetime]:
    return st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2099, 12, 31)).map(
        lambda d: d.replace(microsecond=(d.microsecond // 1000) * 1000, tzinfo=dt.UTC)
    )


def _ints(shape: Shape, bits: int) -> st.SearchStrategy[int]:
    lo = shape.metadata.get("min")
    hi = shape.metadata.get("max")
    limit = 2 ** (bits - 1)
    return st.integers(
        min_value=int(lo) if lo is not None else -limit, max_value=int(hi) if hi is not None else limit - 1
    )


def _floats(shape: Shape) -> st.SearchStrategy[float]:
    # halves and quarters of modest integers: exact in binary and in decimal text
    return st.integers(min_value=-(10**6), max_value=10**6).map(lambda i: i / 4)


def documents(depth: int = 0) -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**6), 10**6), _TEXT)
    if depth >= 2:
        return scalars
    return st.one_of(
        scalars,
        st.lists(documents(depth + 1), max_size=3),
        st.dictionaries(_TEXT, documents(depth + 1), max_size=3),
    )


def values(
    shape: Shape, *, depth: int = 0, header: bool = False, all_members: bool = False
) -> st.SearchStrategy[Any]:
    """A strategy for one value of `shape`.

    `header`: the value travels in an HTTP header (ASCII only, no blanks).
    `all_members`: structures always carry every non-streaming member
    (useful when a test wants full coverage of a shape).
    """
    t = shape.type_name
    if t == "structure":
        return _structure(shape, depth, all_members)
    if t == "list":
        if depth >= MAX_DEPTH:
            return st.just([])
        lo = int(shape.metadata.get("min", 0) or 0)
        hi = shape.metadata.get("max")
        hi_n = min(int(hi), max(lo, 3)) if hi is not None else max(lo, 3)
        return st.lists(values(shape.member, depth=depth + 1, header=header), min_size=lo, max_size=hi_n)
    if t == "map":
        if depth >= MAX_DEPTH:
            return st.just({})
        keys = values(shape.key, depth=depth + 1, header=header)
        return st.dictionaries(keys, values(shape.value, depth=depth + 1, header=header), max_size=3)
    if t == "string":
        if shape.enum:
            return st.sampled_from(list(shape.enum))
        if shape.serialization.get("jsonvalue"):
            return st.dictionaries(_HEADER_TEXT, st.integers(0, 100), max_size=2).map(_json_text)
        return _bounded_text(shape, header)
    if t == "integer":
        return _ints(shape, 32)
    if t == "long":
        return _ints(shape, 64)
    if t in ("float", "double"):
        return _floats(shape)
    if t == "boolean":
        return st.booleans()
    if t == "blob":
        lo = int(shape.metadata.get("min", 0) or 0)
        return st.binary(min_size=lo, max_size=max(lo, 16))
    if t == "timestamp":
        return _timestamps()
    raise NotImplementedError(f"no strategy for shape type {t!r} ({shape.name})")


def _json_text(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _structure(shape: Shape, depth: int, all_members: bool) -> st.SearchStrategy[dict[str, Any]]:
    if shape.metadata.get("document"):
        return documents()  # type: ignore[return-value]
    members = {n: m for n, m in shape.members.items() if not _is_event_stream(m)}
    if shape.metadata.get("union"):
        if not members:
            return st.just({})
        return st.one_of(
            *[
                values(m, depth=depth + 1, header=_in_header(m)).map(lambda v, n=n: {n: v})
                for n, m in members.items()
            ]
        )
    required = set(shape.required_members)
    if depth >= MAX_DEPTH:
        members = {n: m for n, m in members.items() if n in required}
    strategies = {}
    for name, member in members.items():
        strat = values(member, depth=depth + 1, header=_in_header(member))
        if name in required or all_members:
            strategies[name] = strat
        else:
            strategies[name] = st.one_of(st.just(_MISSING), strat)
    return st.fixed_dictionaries(strategies).map(lambda d: {k: v for k, v in d.items() if v is not _MISSING})


def _is_event_stream(shape: Shape) -> bool:
    return bool(
        shape.serialization.get("eventstream")
        or getattr(shape, "event_stream_name", None)
        or shape.metadata.get("eventstream")
    )


def _in_header(shape: Shape) -> bool:
    return shape.serialization.get("location") in ("header", "headers")


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()
