"""Forwarding a request, untouched, to the primary server process.

A worker process (`squall up --workers N`, see squall/worker.py) answers the
operations it can serve from the database alone and hands every other request
to the primary over a Unix socket: same method, path, query, headers and body
(so the primary verifies the signature as if the client had called it), and
the primary's response streamed back as it comes. Bodies are streamed both
ways, so a large S3 object never sits in a worker's memory.

HTTP/1.1 to the primary is spoken with h11 over pooled keep-alive connections.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import h11

from squall.gateway.app import Receive, Scope, Send

log = logging.getLogger("squall.gateway")


# Framing and connection management are per hop; h11 and uvicorn redo them.
_HOP = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"expect", b"upgrade", b"te"})
_READ = 256 * 1024
_IDLE = 32  # pooled connections kept beyond that are closed


class _Upstream:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT)

    async def send(self, event: h11.Event) -> None:
        data = self.h11.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def next_event(self) -> Any:
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            self.h11.receive_data(await self.reader.read(_READ))

    def close(self) -> None:
        self.writer.close()


class _ClientGone(Exception):
    pass


class Forwarder:
    """ASGI app that relays HTTP requests to the server listening at `socket_path`
    (a path, or a Linux abstract name starting with a NUL byte)."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self._idle: list[_Upstream] = []

    async def _connect(self) -> _Upstream:
        while self._idle:
            up = self._idle.pop()
            if not up.writer.is_closing() and not up.reader.at_eof():
                return up
            up.close()
        # Connected by hand: uvloop refuses abstract names (leading NUL) as paths.
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, self.socket_path)
        except BaseException:
            sock.close()
            raise
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=_READ)
        return _Upstream(reader, writer)

    def _release(self, up: _Upstream) -> None:
        if up.h11.our_state is h11.DONE and up.h11.their_state is h11.DONE and len(self._idle) < _IDLE:
            up.h11.start_next_cycle()
            self._idle.append(up)
        else:
            up.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            up = await self._connect()
        except OSError as exc:
            log.warning("primary server unreachable at %r: %s", self.socket_path, exc)
            await _unavailable(send)
            return
        started = False

        async def tracked(message: dict[str, Any]) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self._relay(up, scope, receive, tracked)
        except _ClientGone:
            up.close()
        except (OSError, h11.ProtocolError, asyncio.IncompleteReadError) as exc:
            up.close()
            log.warning("forwarding to the primary server failed: %s", exc)
            if not started:
                await _unavailable(send)
        except BaseException:
            up.close()
            raise
        else:
            self._release(up)

    async def _relay(self, up: _Upstream, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _HOP]
        chunked = any(k.lower() == b"transfer-encoding" for k, _ in scope["headers"])
        if chunked:
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            headers.append((b"transfer-encoding", b"chunked"))
        if not any(k.lower() == b"host" for k, _ in headers):
            headers.append((b"host", b"localhost"))
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        await up.send(h11.Request(method=scope["method"], target=target, headers=headers))
        more = True
        try:
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _ClientGone
                body = message.get("body", b"")
                if body:
                    await up.send(h11.Data(data=body))
                more = message.get("more_body", False)
            await up.send(h11.EndOfMessage())
        except OSError:
            # The primary stopped reading (it refused the request early, e.g. a body over its
            # limit, and closed): relay the answer it sent, if any (the connection is not reused:
            # h11 is not DONE sending).
            log.debug("the primary stopped reading the request body")
        while True:
            event = await up.next_event()
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                break
            raise h11.RemoteProtocolError(f"unexpected {type(event).__name__} from the primary")
        # A body of unknown length (no content-length) is chunked again by uvicorn.
        out = [(k, v) for k, v in event.headers if k not in _HOP]
        await send({"type": "http.response.start", "status": event.status_code, "headers": out})
        while True:
            event = await up.next_event()
            if isinstance(event, h11.Data):
                try:
                    await send({"type": "http.response.body", "body": bytes(event.data), "more_body": True})
                except OSError as exc:
                    raise _ClientGone from exc
            elif isinstance(event, h11.EndOfMessage):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            elif isinstance(event, h11.ConnectionClosed):
                raise h11.RemoteProtocolError("the primary closed the connection mid-response")


async def _unavailable(send: Send) -> None:
    body = b'{"__type":"ServiceUnavailable","message":"Service is unavailable; please retry."}'
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/x-amz-json-1.0"),
                (b"content-length", b"%d" % len(body)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
