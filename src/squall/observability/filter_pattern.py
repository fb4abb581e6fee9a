"""CloudWatch Logs filter patterns for unstructured log events (FilterLogEvents).

Supported: plain terms (every one must occur; case-sensitive), ``"quoted
phrases"`` (matched as written, spaces and punctuation included), ``?term``
(at least one of the ``?`` terms must occur), ``-term`` (must not occur) and
``%regex%`` (a regular expression searched in the message). An empty pattern
matches everything. JSON (``{ $.field = ... }``) and space-delimited
(``[a, b, ...]``) patterns are refused with `PatternError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Matcher = Callable[[str], bool]


class PatternError(ValueError):
    pass


def _tokens(pattern: str) -> list[tuple[str, str]]:
    """(prefix, term) pairs; prefix is "", "?" or "-"."""
    out = []
    for m in re.finditer(r'([?-]?)(?:"((?:[^"\\]|\\.)*)"|(\S+))', pattern):
        prefix, quoted, bare = m.group(1), m.group(2), m.group(3)
        term = quoted.replace('\\"', '"') if quoted is not None else bare
        if term:
            out.append((prefix, term))
    return out


def compile_pattern(pattern: str | None) -> Matcher | None:
    """A predicate over messages, or None when the pattern matches everything."""
    pattern = (pattern or "").strip()
    if not pattern:
        return None
    if pattern[0] in "{[":
        raise PatternError("JSON and space-delimited filter patterns are not supported by Squall yet")
    if len(pattern) > 1 and pattern[0] == "%" and pattern[-1] == "%":
        try:
            regex = re.compile(pattern[1:-1])
        except re.error as exc:
            raise PatternError(f"Invalid regular expression in filter pattern: {exc}") from None
        return lambda message: regex.search(message) is not None
    tokens = _tokens(pattern)
    required = [t for p, t in tokens if p == ""]
    anyof = [t for p, t in tokens if p == "?"]
    excluded = [t for p, t in tokens if p == "-"]

    def match(message: str) -> bool:
        return (
            all(t in message for t in required)
            and not any(t in message for t in excluded)
            and (not anyof or any(t in message for t in anyof))
        )

    return match
