"""DynamoDB numbers: 38 significant digits, magnitudes 1E-130 .. 9.99...E+125, and an
order-preserving byte encoding so stored keys sort numerically.

Every N that enters Squall goes through `parse`, which raises `NumberError` with AWS's
message; `text` gives the canonical form AWS returns (no exponent, no trailing zeros).
"""

from __future__ import annotations

import decimal
from decimal import Decimal

CONTEXT = decimal.Context(
    prec=38,
    rounding=decimal.ROUND_HALF_EVEN,
    Emin=-128,
    Emax=126,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero],
)
_MIN_EXP = -130  # adjusted exponent of the smallest magnitude (1E-130)
_MAX_EXP = 125  # adjusted exponent of the largest magnitude (9.99..E+125)
_ZERO = b"\x80"
#: Wide enough to normalize any literal that passed the range checks in `_check`.
_NORMALIZE = decimal.Context(prec=100, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


class NumberError(ValueError):
    """A number DynamoDB refuses; the message is AWS's."""


def _check(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise NumberError(f"The parameter cannot be converted to a numeric value: {value}")
    if value.is_zero():
        return Decimal(0)
    try:
        value = value.normalize(_NORMALIZE)
    except decimal.DecimalException:  # an exponent beyond even the widest context
        value = Decimal((0, (1,), _MAX_EXP + 1 if value.adjusted() > 0 else _MIN_EXP - 1))
    if len(value.as_tuple().digits) > 38:
        raise NumberError("Attempting to store more than 38 significant digits in a Number")
    exp = value.adjusted()
    if exp > _MAX_EXP:
        raise NumberError(
            "Number overflow. Attempting to store a number with magnitude larger than supported range"
        )
    if exp < _MIN_EXP:
        raise NumberError(
            "Number underflow. Attempting to store a number with magnitude smaller than supported range"
        )
    return value


def parse(raw: str) -> Decimal:
    """The value of an N attribute, validated as AWS does."""
    text = raw.strip() if isinstance(raw, str) else raw
    if not isinstance(text, str) or not text or any(c in text for c in "_ nNiI"):
        raise NumberError(f"The parameter cannot be converted to a numeric value: {raw}")
    try:
        value = Decimal(text)
    except decimal.InvalidOperation:
        raise NumberError(f"The parameter cannot be converted to a numeric value: {raw}") from None
    return _check(value)


def text(value: Decimal) -> str:
    """The canonical string AWS returns for a stored number."""
    if value.is_zero():
        return "0"
    return format(value.normalize(_NORMALIZE), "f")


def canonical(raw: str) -> str:
    return text(parse(raw))


def add(a: Decimal, b: Decimal) -> Decimal:
    return _arith(lambda: CONTEXT.add(a, b))


def subtract(a: Decimal, b: Decimal) -> Decimal:
    return _arith(lambda: CONTEXT.subtract(a, b))


def _arith(op: object) -> Decimal:
    try:
        result: Decimal = op()  # type: ignore[operator]
    except decimal.Overflow:
        raise NumberError(
            "Number overflow. Attempting to store a number with magnitude larger than supported range"
        ) from None
    inexact = result.normalize(decimal.Context(prec=100))
    if len(inexact.as_tuple().digits) > 38:
        raise NumberError("Attempting to store more than 38 significant digits in a Number")
    return _check(result)


def encode(value: Decimal) -> bytes:
    """Bytes that compare like the numbers: zero 0x80; positives 0xC0, the adjusted exponent
    (+130, one byte), the digits (ASCII, trailing zeros dropped, a shorter digit string sorts
    first); negatives 0x40 and everything complemented, closed by 0xFF so that a digit
    string sorts after its extensions."""
    if value.is_zero():
        return _ZERO
    sign, digits, _ = value.normalize(decimal.Context(prec=100)).as_tuple()
    exp = value.adjusted() - _MIN_EXP
    body = bytes([exp]) + "".join(map(str, digits)).rstrip("0").encode()
    if not sign:
        return b"\xc0" + body
    return b"\x40" + bytes(255 - b for b in body) + b"\xff"


def size(value: Decimal) -> int:
    """AWS's size of a number: one byte, plus half the significant digits of the integer part
    and half those of the fraction, each rounded up (leading and trailing zeros trimmed)."""
    if value.is_zero():
        return 1
    _, digits, exp = value.normalize(decimal.Context(prec=100)).as_tuple()
    assert isinstance(exp, int)
    n = len(digits)
    fraction = min(n, -exp) if exp < 0 else 0
    integer = n - fraction
    return 1 + (integer + 1) // 2 + (fraction + 1) // 2
