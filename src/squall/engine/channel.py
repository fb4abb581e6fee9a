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
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import orjson

from squall.engine.runtime.wire import MAX_FRAME

Message = tuple[dict[str, Any], bytes]
_LEN = 4


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

    @classmethod
    async def connect(cls, sock: socket.socket) -> FrameChannel:
        _, channel = await asyncio.get_running_loop().create_unix_connection(cls, sock=sock)
        return channel

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        while True:
            if len(buf) < _LEN:
                return
            n = int.from_bytes(buf[:_LEN], "big")
            if n > MAX_FRAME:
                self._fail(ConnectionError(f"frame of {n} bytes exceeds the limit"))
                self.abort()
                return
            body_at = _LEN + n
            if len(buf) < body_at + _LEN:
                return
            m = int.from_bytes(buf[body_at : body_at + _LEN], "big")
            if m > MAX_FRAME:
                self._fail(ConnectionError(f"frame of {m} bytes exceeds the limit"))
                self.abort()
                return
            end = body_at + _LEN + m
            if len(buf) < end:
                return
            try:
                header = orjson.loads(buf[_LEN:body_at])
            except orjson.JSONDecodeError:
                header = json.loads(bytes(buf[_LEN:body_at]))  # what only the stdlib reads (NaN)
            body = bytes(buf[body_at + _LEN : end])
            del buf[:end]
            self._deliver((header, body))

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
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(message)
            self._waiter = None
        else:
            self._ready.append(message)

    def _fail(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(self._error)
            self._waiter = None
