"""The server's end of an EE's framed channel, as an asyncio protocol.

Speaks `runtime.wire`'s framing (a JSON header frame, then a raw body frame)
without a StreamReader/StreamWriter pair: incoming bytes are parsed where they
arrive (``data_received``) and a complete message resolves the one pending
``read()`` directly, so a warm invocation costs one future and one wake-up
instead of four ``readexactly`` calls and a ``drain``. Headers are decoded
with orjson (server side only; the in-sandbox runtime keeps the standard
library). Writes go straight to the transport, which buffers what the socket
does not take at once (an event is at most a few MB, and the EE reads it
whole before it answers). ``abort()`` (a deadline) and the EE exiting fail the
pending read with ``ConnectionError`` / ``asyncio.IncompleteReadError``.

What the EE sends is bounded as it arrives, never after: a header frame past
``MAX_HEADER``, or a second message while one is still unread, is a protocol
violation (the channel is aborted). A body frame past ``body_limit`` (set per
invocation: the response size limit) is never buffered: its bytes are counted
and dropped as they arrive, and once the whole frame has passed, the message is
delivered with an empty body and ``TOO_LARGE`` (its size) in its header; the
EE stays usable.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import orjson

from squall.engine.ee_base import SYNC_RESPONSE_LIMIT

Message = tuple[dict[str, Any], bytes]
_LEN = 4
MAX_HEADER = 1024 * 1024
TOO_LARGE = "squall.too_large"  # set by the channel in a header whose body was dropped: its size


def encode_header(header: dict[str, Any]) -> bytes:
    """The header as compact JSON, as the runtime's stdlib encoder would write it."""
    try:
        return orjson.dumps(header)
    except TypeError:  # orjson.JSONEncodeError (e.g. an int beyond 64 bits): the standard library's answer
        return json.dumps(header, separators=(",", ":")).encode()


def pack(header: dict[str, Any], body: bytes) -> bytes:
    head = encode_header(header)
    return b"".join((len(head).to_bytes(_LEN, "big"), head, len(body).to_bytes(_LEN, "big"), body))


class FrameChannel(asyncio.Protocol):
    """One EE's channel: ``write`` whole messages, ``await read()`` the next reply (one reader at a time)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._ready: list[Message] = []
        self._waiter: asyncio.Future[Message] | None = None
        self._error: BaseException | None = None
        #: The largest body frame kept; larger ones are dropped as they arrive (see the module doc).
        self.body_limit = SYNC_RESPONSE_LIMIT
        self._skip = 0  # bytes of an oversized body frame still to drop
        self._skipped: dict[str, Any] | None = None  # its message's header

    @classmethod
    async def connect(cls, sock: socket.socket) -> FrameChannel:
        _, channel = await asyncio.get_running_loop().create_unix_connection(cls, sock=sock)
        return channel

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        if self._skip:
            if len(data) < self._skip:
                self._skip -= len(data)
                return
            data = data[self._skip :]
            self._skip = 0
            self._deliver_skipped()
        buf = self._buf
        buf += data
        while True:
            if len(buf) < _LEN:
                return
            n = int.from_bytes(buf[:_LEN], "big")
            if n > MAX_HEADER:
                self._violation(f"header frame of {n} bytes")
                return
            body_at = _LEN + n
            if len(buf) < body_at + _LEN:
                return
            m = int.from_bytes(buf[body_at : body_at + _LEN], "big")
            if m > self.body_limit:  # never buffered: dropped as it arrives
                header = self._header(buf[_LEN:body_at])
                del buf[: body_at + _LEN]
                self._skipped = {**header, TOO_LARGE: m} if isinstance(header, dict) else {TOO_LARGE: m}
                if len(buf) < m:
                    self._skip = m - len(buf)
                    buf.clear()
                    return
                del buf[:m]
                self._deliver_skipped()
                continue
            end = body_at + _LEN + m
            if len(buf) < end:
                return
            header = self._header(buf[_LEN:body_at])
            body = bytes(buf[body_at + _LEN : end])
            del buf[:end]
            self._deliver((header, body))

    @staticmethod
    def _header(raw: bytearray) -> Any:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return json.loads(bytes(raw))  # what only the stdlib reads (NaN)

    def _deliver_skipped(self) -> None:
        header, self._skipped = self._skipped, None
        self._deliver((header or {}, b""))

    def _violation(self, what: str) -> None:
        self._ready.clear()
        self._fail(ConnectionError(f"EE protocol violation: {what}"))
        self.abort()

    def eof_received(self) -> bool:
        self._fail(asyncio.IncompleteReadError(bytes(self._buf), None))
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc if isinstance(exc, ConnectionError) else ConnectionResetError("EE channel closed"))
        self.transport = None

    # -- the EE side's API ------------------------------------------------------------------

    def write(self, header: dict[str, Any], body: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("EE channel closed")
        self.transport.write(pack(header, body))

    async def read(self) -> Message:
        """The next message; raises ``IncompleteReadError``/``ConnectionError`` once the channel ends."""
        if self._ready:
            return self._ready.pop(0)
        if self._error is not None:
            raise self._error
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            message: Message = await waiter
            return message
        finally:
            self._waiter = None

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _deliver(self, message: Message) -> None:
        if self._error is not None:
            return  # aborted: nothing after the failure counts
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(message)
            self._waiter = None
        elif self._ready:  # one reply per request: a function writing to its channel itself
            self._violation("a message nobody asked for")
        else:
            self._ready.append(message)

    def _fail(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(self._error)
            self._waiter = None
