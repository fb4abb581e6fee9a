"""Scalar encodings shared by every protocol: timestamps, blobs, numbers, XML text."""

from __future__ import annotations

import base64
import datetime as dt
import math
import re
from typing import Any

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def as_datetime(value: Any) -> dt.datetime:
    """A timestamp value (aware or naive-UTC datetime, or epoch seconds) as an aware UTC datetime."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is dt.UTC:
            return value
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
    if isinstance(value, (int, float)):
        return _EPOCH + dt.timedelta(seconds=value)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    raise TypeError(f"not a timestamp: {value!r}")


def epoch_seconds(value: Any) -> int | float:
    """Epoch seconds, an int when the instant is whole, else a float rounded to the millisecond."""
    if isinstance(value, bool):
        raise TypeError(f"not a timestamp: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else round(value, 3)
    d = as_datetime(value) - _EPOCH
    whole = d.days * 86400 + d.seconds
    ms = d.microseconds // 1000
    return whole if ms == 0 else round(whole + ms / 1000, 3)


def iso8601(value: Any) -> str:
    """``2026-11-28T02:38:10.123Z``; milliseconds only when the instant has them."""
    d = as_datetime(value)
    text = d.isoformat(timespec="milliseconds" if d.microsecond >= 1000 else "seconds")
    return text[:-6] + "Z"  # the UTC offset "+00:00"


def http_date(value: Any) -> str:
    """RFC 7231 IMF-fixdate, e.g. ``Sat, 28 Nov 2026 02:38:10 GMT`` (whole seconds)."""
    d = as_datetime(value)
    return (
        f"{_DAYS[d.weekday()]}, {d.day:02d} {_MONTHS[d.month - 1]} {d.year:04d} "
        f"{d.hour:02d}:{d.minute:02d}:{d.second:02d} GMT"
    )


def timestamp_text(value: Any, fmt: str) -> str:
    """A timestamp as text in the model's `timestampFormat` (iso8601, rfc822, unixTimestamp)."""
    if fmt == "iso8601":
        return iso8601(value)
    if fmt == "rfc822":
        return http_date(value)
    return number_text(epoch_seconds(value))


def blob_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"not a blob: {type(value).__name__}")


def b64(value: Any) -> str:
    return base64.b64encode(blob_bytes(value)).decode("ascii")


def number_text(value: int | float) -> str:
    if isinstance(value, float):
        if math.isfinite(value):
            return repr(value)
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return str(int(value))


def json_float(value: int | float) -> int | float | str:
    """Smithy JSON numbers: non-finite floats travel as the strings NaN / Infinity / -Infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return number_text(value)
    return value


def bool_text(value: Any) -> str:
    return "true" if value else "false"


# XML 1.0 cannot carry C0 controls (other than tab, newline, carriage return), lone surrogates,
# U+FFFE or U+FFFF, even as character references: they become U+FFFD.
_XML_SPECIAL = re.compile('[&<>"\r\t\n\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_TEXT_TABLE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTR_TABLE = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;", '"': "&quot;", "\t": "&#9;", "\n": "&#10;"}
)


def xml_text(value: str) -> str:
    """`value` escaped for XML character data; a carriage return survives as a reference."""
    if _XML_SPECIAL.search(value) is None:
        return value
    return _XML_INVALID.sub("\ufffd", value).translate(_TEXT_TABLE)


def xml_attr(value: str) -> str:
    if _XML_SPECIAL.search(value) is None:
        return value
    return _XML_INVALID.sub("\ufffd", value).translate(_ATTR_TABLE)
