"""DynamoDB numbers: canonical text, AWS's range and precision errors, and an encoding whose byte
order is numeric order."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from squall.services.dynamodb import numbers


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("1", "1"),
        ("01.50", "1.5"),
        ("-0", "0"),
        ("1e2", "100"),
        ("1E-3", "0.001"),
        (" 7 ", "7"),
        ("-2.000", "-2"),
    ],
)
def test_canonical(raw: str, text: str) -> None:
    assert numbers.canonical(raw) == text


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("abc", "The parameter cannot be converted to a numeric value: abc"),
        ("NaN", "The parameter cannot be converted to a numeric value: NaN"),
        ("Infinity", "The parameter cannot be converted to a numeric value: Infinity"),
        (
            "1E+126",
            "Number overflow. Attempting to store a number with magnitude larger than supported range",
        ),
        (
            "-1E+126",
            "Number overflow. Attempting to store a number with magnitude larger than supported range",
        ),
        (
            "1E-131",
            "Number underflow. Attempting to store a number with magnitude smaller than supported range",
        ),
        ("1" * 39, "Attempting to store more than 38 significant digits in a Number"),
    ],
)
def test_refused(raw: str, message: str) -> None:
    with pytest.raises(numbers.NumberError) as err:
        numbers.parse(raw)
    assert str(err.value) == message


def test_limits_accepted() -> None:
    assert numbers.parse("9.9999999999999999999999999999999999999E+125")
    assert numbers.parse("1E-130")
    assert numbers.parse("1" * 38 + "0" * 20)  # trailing zeros are not significant


def test_arithmetic_overflow() -> None:
    big = numbers.parse("9.9999999999999999999999999999999999999E+125")
    with pytest.raises(numbers.NumberError, match="Number overflow"):
        numbers.add(big, big)
    assert numbers.text(numbers.add(Decimal("0.1"), Decimal("0.2"))) == "0.3"


def _valid(d: Decimal) -> Decimal | None:
    try:
        return numbers.parse(str(d))
    except numbers.NumberError:
        return None


_decimals = (
    st.builds(
        lambda m, e: Decimal(m).scaleb(e), st.integers(-(10**38) + 1, 10**38 - 1), st.integers(-140, 100)
    )
    .map(_valid)
    .filter(lambda d: d is not None)
)


@given(_decimals, _decimals)
def test_encoding_preserves_order(a: Decimal, b: Decimal) -> None:
    ea, eb = numbers.encode(a), numbers.encode(b)
    assert (ea < eb) == (a < b)
    assert (ea == eb) == (a == b)


def test_encoding_examples() -> None:
    values = [
        "-1E+125",
        "-100",
        "-12.5",
        "-12",
        "-1.25",
        "-1E-130",
        "0",
        "1E-130",
        "0.5",
        "1",
        "1.05",
        "1.5",
        "10",
        "1E+125",
    ]
    encoded = [numbers.encode(numbers.parse(v)) for v in values]
    assert encoded == sorted(encoded)


@pytest.mark.parametrize(
    ("raw", "size"),
    [("0", 1), ("1", 2), ("100", 2), ("1E125", 2), ("0.0000001", 2), ("123.45", 4), ("12345", 4)],
)
def test_size(raw: str, size: int) -> None:
    assert numbers.size(numbers.parse(raw)) == size
