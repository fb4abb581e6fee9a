"""Request ids: random (version 4) UUID strings, cheap enough for every request and every
in-process call."""

from __future__ import annotations

import os

_BATCH = 256
#: 32 random hex digits per id, made `_BATCH` at a time (one getrandom and one hex() call
#: per batch: a getrandom call per request was measurable, and so was 128-bit int arithmetic).
_pool: list[str] = []
#: The variant nibble (RFC 4122: 10xx) from a random hex digit.
_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}


def new_request_id() -> str:
    """A random version-4 UUID string, as `str(uuid.uuid4())` gives (under 1 µs; 2 µs before)."""
    if not _pool:
        h = os.urandom(16 * _BATCH).hex()
        _pool.extend(h[i : i + 32] for i in range(0, len(h), 32))
    h = _pool.pop()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


# A forked child must not hand out the ids its parent will.
os.register_at_fork(after_in_child=_pool.clear)
