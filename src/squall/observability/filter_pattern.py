"""CloudWatch Logs filter patterns for unstructured log events (FilterLogEvents).

Supported: plain terms (every one must occur; case-sensitive), ``"quoted
phrases"`` (matched as written, spaces and punctuation included), ``?term``
(at least one of the ``?`` terms must occur), ``-term`` (must not occur) and
``%regex%`` (a regular expression searched in the message). An empty pattern
matches everything. JSON (``{ $.field = ... }``) and space-delimited
(``[a, b, ...]``) patterns are refused with `PatternError`.

Regular expressions are untrusted input matched against every scanned event, so
they run on RE2 (linear time in the message, no backtracking: a pattern such as
``%L*L*L*L*L*x%`` cannot freeze the server) and take AWS's documented subset
only: letters, digits, space, the symbols ``: _ # = @ / ; , -`` and the
operators ``^ $ ? [ ] { } | \\ * + .`` (no ``( )`` groups, no multi-byte
characters), in a pattern of at most 1,024 characters (the model's limit).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import re2

Matcher = Callable[[str], bool]

#: FilterLogEvents' filterPattern limit (the model's max length).
MAX_PATTERN_LENGTH = 1024
#: What AWS lets a %regex% contain (CloudWatch Logs "Supported regular expressions syntax").
_REGEX_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 :_#=@/;,-^$?[]{}|\\*+."
)
#: RE2's memory budget for one compiled pattern (its default is 8 MiB).
_RE2_MAX_MEM = 1 << 21


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
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"Invalid filter pattern: longer than {MAX_PATTERN_LENGTH} characters")
    if len(pattern) > 1 and pattern[0] == "%" and pattern[-1] == "%":
        search = _regex(pattern)
        return lambda message: search(message) is not None
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


def _regex(term: str) -> Callable[[str], object]:
    """The RE2 `search` of a ``%regex%`` term; PatternError (AWS's messages) if AWS would refuse it."""
    if any(ch not in _REGEX_CHARS for ch in term[1:-1]):
        raise PatternError(f"Invalid character(s) in term '{term}'")
    options = re2.Options()
    options.log_errors = False
    options.max_mem = _RE2_MAX_MEM
    try:
        return re2.compile(term[1:-1], options).search  # type: ignore[no-any-return]
    except re2.error:
        raise PatternError("Invalid filter pattern") from None
