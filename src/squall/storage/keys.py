"""Order-preserving tuple encoding for composite keys.

`pack(*parts)` turns a tuple of `None`, `bytes`, `str` and `int` into bytes
such that, for tuples `a` and `b`:

- ``pack(*a) < pack(*b)`` (byte order) iff ``a < b`` compared element-wise,
  with the type order ``None < bytes < str < int`` between different types;
- a tuple sorts before every tuple it is a proper prefix of, and
  ``pack(*a)`` is a byte prefix of ``pack(*a, *rest)``, so
  ``scan(ns, prefix=pack(account, region, "function"))`` finds exactly the
  keys that start with those three parts.

Strings compare by code point (UTF-8 byte order is code-point order; lone
surrogates are allowed). Integers of any size and sign are supported.
`bool` is refused so that `unpack` always returns what was packed.

Encoding (one self-delimiting element after another):

- ``None``: ``0x00``
- ``bytes``: ``0x01``, the bytes with ``0x00`` escaped as ``0x00 0xFF``, ``0x00``
- ``str``: ``0x02``, UTF-8 escaped the same way, ``0x00``
- ``int`` 0: ``0x14``; positive with n magnitude bytes (1..8): ``0x14+n`` and
  big-endian magnitude; negative: ``0x14-n`` and the one's complement of the
  magnitude; larger magnitudes: ``0x1D`` (positive) / ``0x0B`` (negative),
  then the length of the length, the length and the magnitude (all
  complemented for negatives).
"""

from __future__ import annotations

from typing import TypeAlias

Part: TypeAlias = bytes | str | int | None

_NONE = 0x00
_BYTES = 0x01
_STR = 0x02
_INT_ZERO = 0x14
_INT_POS_BIG = 0x1D
_INT_NEG_BIG = 0x0B
_SMALL_MAX = 8


def _escape(raw: bytes) -> bytes:
    return raw.replace(b"\x00", b"\x00\xff") + b"\x00"


def _complement(raw: bytes) -> bytes:
    return bytes(255 - b for b in raw)


def _pack_int(value: int, out: bytearray) -> None:
    if value == 0:
        out.append(_INT_ZERO)
        return
    magnitude = abs(value)
    n = (magnitude.bit_length() + 7) // 8
    body = magnitude.to_bytes(n, "big")
    if n <= _SMALL_MAX:
        if value > 0:
            out.append(_INT_ZERO + n)
            out += body
        else:
            out.append(_INT_ZERO - n)
            out += _complement(body)
        return
    length = n.to_bytes((n.bit_length() + 7) // 8, "big")
    if len(length) > 255:
        raise ValueError("integer too large to pack")
    header = bytes([len(length)]) + length
    if value > 0:
        out.append(_INT_POS_BIG)
        out += header + body
    else:
        out.append(_INT_NEG_BIG)
        out += _complement(header + body)


def pack(*parts: Part) -> bytes:
    """Encode `parts` as an order-preserving byte string (see module doc)."""
    out = bytearray()
    for part in parts:
        if part is None:
            out.append(_NONE)
        elif isinstance(part, bool):
            raise TypeError("bool is not a key part; use an int")
        elif isinstance(part, int):
            _pack_int(part, out)
        elif isinstance(part, str):
            out.append(_STR)
            out += _escape(part.encode("utf-8", "surrogatepass"))
        elif isinstance(part, bytes | bytearray | memoryview):
            out.append(_BYTES)
            out += _escape(bytes(part))
        else:
            raise TypeError(f"unsupported key part type: {type(part).__name__}")
    return bytes(out)


def _unescape(data: bytes, pos: int) -> tuple[bytes, int]:
    chunks: list[bytes] = []
    while True:
        end = data.find(b"\x00", pos)
        if end < 0:
            raise ValueError("unterminated string or bytes in packed key")
        chunks.append(data[pos:end])
        if end + 1 < len(data) and data[end + 1] == 0xFF:
            chunks.append(b"\x00")
            pos = end + 2
        else:
            return b"".join(chunks), end + 1


def _take(data: bytes, pos: int, n: int) -> bytes:
    if pos + n > len(data):
        raise ValueError("truncated integer in packed key")
    return data[pos : pos + n]


def _unpack_big(data: bytes, pos: int, negative: bool) -> tuple[int, int]:
    def fix(raw: bytes) -> bytes:
        return _complement(raw) if negative else raw

    len_len = fix(_take(data, pos, 1))[0]
    pos += 1
    n = int.from_bytes(fix(_take(data, pos, len_len)), "big")
    pos += len_len
    magnitude = int.from_bytes(fix(_take(data, pos, n)), "big")
    return (-magnitude if negative else magnitude), pos + n


def unpack(data: bytes) -> tuple[Part, ...]:
    """Decode bytes made by `pack` back into the tuple of parts."""
    parts: list[Part] = []
    pos = 0
    while pos < len(data):
        code = data[pos]
        pos += 1
        if code == _NONE:
            parts.append(None)
        elif code == _BYTES:
            raw, pos = _unescape(data, pos)
            parts.append(raw)
        elif code == _STR:
            raw, pos = _unescape(data, pos)
            parts.append(raw.decode("utf-8", "surrogatepass"))
        elif code == _INT_ZERO:
            parts.append(0)
        elif _INT_ZERO < code <= _INT_ZERO + _SMALL_MAX:
            n = code - _INT_ZERO
            parts.append(int.from_bytes(_take(data, pos, n), "big"))
            pos += n
        elif _INT_ZERO - _SMALL_MAX <= code < _INT_ZERO:
            n = _INT_ZERO - code
            parts.append(-int.from_bytes(_complement(_take(data, pos, n)), "big"))
            pos += n
        elif code in (_INT_POS_BIG, _INT_NEG_BIG):
            value, pos = _unpack_big(data, pos, negative=code == _INT_NEG_BIG)
            parts.append(value)
        else:
            raise ValueError(f"invalid type code 0x{code:02x} in packed key at offset {pos - 1}")
    return tuple(parts)


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with
    `prefix`, or None when there is none (empty or all-0xFF prefix)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])
