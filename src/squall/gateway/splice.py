"""A worker process's connections: keep the ones it serves, splice the others to the primary.

uvicorn builds one protocol object per connection from its `http` class; a worker
(squall/worker.py) gives it `sniffing_protocol(primary, keep)`. That protocol
buffers the first request's head (request line and headers). If `keep(head)`,
uvicorn's own HTTP protocol takes the connection over (the buffered bytes first)
and the worker's ASGI app serves it. Otherwise the connection is spliced to the
primary server's Unix socket: bytes are copied both ways as they come, with flow
control, until either side closes, so the primary parses, authenticates and
answers every request on it as if the client had called it directly. Splicing a
connection costs the worker two socket writes per chunk, once per connection
decided, instead of parsing and re-sending every request.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from squall.gateway.timeouts import HeadDeadlines, guarded_http

log = logging.getLogger("squall.gateway")

_MAX_HEAD = 64 * 1024  # a longer head is spliced: the primary answers it (431 or a parse error)


def sniffing_protocol(
    primary: str, keep: Callable[[bytes], bool], header_timeout: float = 15.0
) -> type[asyncio.Protocol]:
    """uvicorn's `http` class for a worker: connections whose first request head passes `keep`
    stay, the others are spliced to the server listening at `primary` (a Unix socket name).
    A connection whose head does not arrive within `header_timeout` seconds is closed
    (`timeouts.py`; kept connections go on under the same limit, spliced ones under the
    primary's)."""
    attrs = {
        "primary": primary,
        "keep": staticmethod(keep),
        "head_deadlines": HeadDeadlines(header_timeout),
        "http_class": guarded_http(header_timeout),
    }
    return type("Sniffing", (SniffingProtocol,), attrs)


class _Splice(asyncio.Protocol):
    """The primary's end of a spliced connection: its bytes go to the client as they come."""

    def __init__(self, client: asyncio.Transport) -> None:
        self.client = client

    def data_received(self, data: bytes) -> None:
        self.client.write(data)

    def eof_received(self) -> bool:
        self.client.close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.close()

    def pause_writing(self) -> None:  # the primary reads slower than the client sends
        self.client.pause_reading()

    def resume_writing(self) -> None:
        self.client.resume_reading()


class SniffingProtocol(asyncio.Protocol):
    """See the module doc; `sniffing_protocol` binds `primary` and `keep`."""

    primary = ""
    keep: Callable[[bytes], bool] = staticmethod(lambda head: False)
    head_deadlines = HeadDeadlines(15.0)
    http_class: type[asyncio.Protocol] | None = None

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any], _loop: Any = None) -> None:
        self._args = (config, server_state, app_state, _loop)
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        self._peer: asyncio.Transport | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport) or hasattr(transport, "write")
        self._transport = transport  # type: ignore[assignment]
        self.head_deadlines.start(self, asyncio.get_running_loop())

    def head_timed_out(self) -> None:
        if self._peer is None and self._connecting is None and self._transport is not None:
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        if self._peer is not None:
            self._peer.write(data)
            return
        self._buf += data
        if self._connecting is not None:
            return  # connecting to the primary: buffered until then
        end = self._buf.find(b"\r\n\r\n")
        if end < 0 and len(self._buf) < _MAX_HEAD:
            return
        self.head_deadlines.done(self)
        if end >= 0 and self.keep(bytes(self._buf[:end])):
            self._serve_here()
        else:
            self._connecting = asyncio.ensure_future(self._splice())

    def _serve_here(self) -> None:
        from uvicorn.protocols.http.auto import AutoHTTPProtocol

        config, server_state, app_state, loop = self._args
        cls: Any = self.http_class or AutoHTTPProtocol
        http = cls(config=config, server_state=server_state, app_state=app_state, _loop=loop)
        transport = self._transport
        assert transport is not None
        transport.set_protocol(http)
        http.connection_made(transport)
        data, self._buf = bytes(self._buf), bytearray()
        http.data_received(data)

    async def _splice(self) -> None:
        client = self._transport
        assert client is not None
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, self.primary)
            peer, _ = await loop.create_unix_connection(lambda: _Splice(client), sock=sock)
        except OSError as exc:
            sock.close()
            log.warning("primary server unreachable: %s", exc)
            client.close()
            return
        if self._closed:
            peer.close()
            return
        self._peer = peer
        data, self._buf = bytes(self._buf), bytearray()
        peer.write(data)

    def eof_received(self) -> bool:
        if self._peer is not None and self._peer.can_write_eof():
            self._peer.write_eof()
            return True  # half-close: the primary may still answer
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self.head_deadlines.done(self)
        if self._peer is not None:
            self._peer.close()

    def pause_writing(self) -> None:  # the client reads slower than the primary sends
        if self._peer is not None:
            self._peer.pause_reading()

    def resume_writing(self) -> None:
        if self._peer is not None:
            self._peer.resume_reading()
