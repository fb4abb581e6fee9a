from __future__ import annotations

import pytest

from squall.observability.filter_pattern import PatternError, compile_pattern


@pytest.mark.parametrize(
    ("pattern", "message", "hit"),
    [
        ("ERROR", "an ERROR here", True),
        ("ERROR", "an error here", False),  # case-sensitive
        ("ERROR disk", "ERROR: disk full", True),
        ("ERROR disk", "ERROR: cpu", False),
        ('"disk full"', "ERROR: disk full", True),
        ('"disk full"', "full disk", False),
        ("?ERROR ?WARN", "WARN low", True),
        ("?ERROR ?WARN", "INFO ok", False),
        ("ERROR -Exiting", "ERROR Exiting now", False),
        ("ERROR -Exiting", "ERROR retrying", True),
        ("%RequestId: [0-9a-f-]+%", "END RequestId: 1a-2b", True),
    ],
)
def test_patterns(pattern: str, message: str, hit: bool) -> None:
    match = compile_pattern(pattern)
    assert match is not None and match(message) is hit


def test_empty_matches_all_and_structured_is_refused() -> None:
    assert compile_pattern("") is None and compile_pattern(None) is None
    with pytest.raises(PatternError):
        compile_pattern('{ $.level = "x" }')
