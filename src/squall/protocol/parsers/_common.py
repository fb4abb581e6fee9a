"""Shared pieces of the request parsers: the malformed-input signal, scalar
decoders for text-carried values (query strings, headers, XML text, URI labels)
and the per-shape memo that lets compiled decoders handle recursive shapes."""

from __future__ import annotations

import binascii
import datetime as dt
import math
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

from botocore.model import Shape

Decoder = Callable[[Any], Any]
"""Turns one wire value (JSON/CBOR value, XML element, query node, text) into
the Python value botocore's client takes for the shape; raises `Malformed`."""

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
INT_BITS = {"integer": 32, "long": 64, "short": 16, "byte": 8}


class Malformed(Exception):
    """Bad input at some member path. `structural` separates a broken envelope
    (bad JSON, bad XML, bad query keys) from one bad scalar value; protocols
    with distinct error codes for the two (query) use it. `path` is built
    innermost-first while the exception unwinds through structure decoders."""

    def __init__(self, message: str, *, structural: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.structural = structural
        self.in_body = False
        self.path: list[str] = []

    def where(self) -> str:
        return ".".join(reversed(self.path))

    def describe(self) -> str:
        where = self.where()
        return f"{self.message} (at '{where}')" if where else self.message


def shape_key(shape: Shape) -> tuple[str, str]:
    """Identity of a shape *including* the member traits merged into it
    (locationName, timestampFormat, ...), for decoder memo tables."""
    return (shape.name, repr(sorted(shape.serialization.items())))


F = TypeVar("F", bound=Callable[..., Any])


class Memo(Generic[F]):
    """Compiled functions by `shape_key`, with forward references so that
    recursive shapes (DynamoDB's AttributeValue, ...) compile once."""

    def __init__(self) -> None:
        self._done: dict[tuple[str, str], F] = {}

    def get(self, shape: Shape, build: Callable[[Shape], F]) -> F:
        key = shape_key(shape)
        found = self._done.get(key)
        if found is not None:
            return found
        cell: list[F] = []

        def forward(*args: Any) -> Any:
            return cell[0](*args)

        self._done[key] = forward  # type: ignore[assignment]
        real = build(shape)
        cell.append(real)
        self._done[key] = real
        return real


def int_in_range(value: int, type_name: str) -> int:
    bits = INT_BITS.get(type_name, 64)
    limit = 1 << (bits - 1)
    if not -limit <= value < limit:
        raise Malformed(f"Number {value} is out of range for a {type_name}")
    return value


def text_int(text: str, type_name: str) -> int:
    s = text.strip()
    if not s or "_" in s:
        raise Malformed(f"Invalid {type_name} value '{text}'")
    try:
        return int_in_range(int(s), type_name)
    except ValueError:
        raise Malformed(f"Invalid {type_name} value '{text}'") from None


def text_float(text: str) -> float:
    s = text.strip()
    if not s or "_" in s:
        raise Malformed(f"Invalid number '{text}'")
    try:
        return float(s)
    except ValueError:
        raise Malformed(f"Invalid number '{text}'") from None


def text_bool(text: str) -> bool:
    s = text.strip().lower()
    if s == "true":
        return True
    if s == "false":
        return False
    raise Malformed(f"Invalid boolean value '{text}'")


def b64(text: str | bytes) -> bytes:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise Malformed("Invalid base64 value") from None


def epoch(seconds: float) -> dt.datetime:
    if isinstance(seconds, float) and not math.isfinite(seconds):
        raise Malformed(f"Invalid timestamp {seconds}")
    try:
        return EPOCH + dt.timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        raise Malformed(f"Timestamp {seconds} is out of range") from None


def _iso(text: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _http_date(text: str) -> dt.datetime | None:
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _epoch_text(text: str) -> dt.datetime | None:
    try:
        seconds = float(text)
    except ValueError:
        return None
    return epoch(int(text) if text.isdigit() else seconds)


_TEXT_TIMESTAMP = {"iso8601": _iso, "rfc822": _http_date, "unixtimestamp": _epoch_text}


def text_timestamp(text: str, fmt: str) -> dt.datetime:
    """A timestamp carried as text in the model's format (`iso8601`,
    `rfc822`, `unixTimestamp`); the other two are accepted as fallbacks,
    like AWS's own front ends do."""
    s = text.strip()
    first = _TEXT_TIMESTAMP.get(fmt.lower(), _iso)
    found = first(s)
    if found is None:
        for other in _TEXT_TIMESTAMP.values():
            if other is not first and (found := other(s)) is not None:
                break
    if found is None:
        raise Malformed(f"Invalid timestamp '{text}'")
    return found


def text_scalar(shape: Shape, default_ts: str) -> Callable[[str], Any]:
    """Decoder from text for a scalar shape (headers, query strings, URI labels)."""
    t = shape.type_name
    if t == "string":
        return str
    if t in INT_BITS:
        return lambda s: text_int(s, t)
    if t in ("float", "double"):
        return text_float
    if t == "boolean":
        return text_bool
    if t == "blob":
        return b64
    if t == "timestamp":
        fmt = str(shape.serialization.get("timestampFormat", default_ts))
        return lambda s: text_timestamp(s, fmt)
    raise TypeError(f"a {t} shape ({shape.name}) cannot be carried as text")
