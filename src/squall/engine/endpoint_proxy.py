"""The Squall endpoint inside an EE's network namespace: a byte proxy to the server's own port.

``EndpointProxy(listeners, host, port)`` serves the listening sockets made in
the EE's namespace (``netns.Namespace.endpoint``) from the server's event
loop: each connection a function opens to ``localhost:<port>`` is paired with
a new connection to ``host:port`` in the host's namespace (the server's
socket, so the gateway sees an ordinary client: SigV4 and the Host header
pass through untouched), and bytes are copied both ways with flow control.
``close`` stops listening and drops every connection, so the namespace can go.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import typing
from typing import Any


class _Half(asyncio.Protocol):
    """One side of a proxied connection: what arrives is written to the other side."""

    def __init__(self, owner: EndpointProxy) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        self.peer: _Half | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.owner._halves.add(self)

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None:
            peer.transport.write(data)

    def eof_received(self) -> bool:
        peer = self.peer
        if peer is not None and peer.transport is not None and peer.transport.can_write_eof():
            peer.transport.write_eof()
            return True  # half-close: keep reading the other way
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._halves.discard(self)
        self.transport = None
        peer = self.peer
        if peer is not None and peer.transport is not None:
            peer.transport.close()

    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()


class _Inside(_Half):
    """A function's connection: what it sends before the server side is connected is kept
    (reading paused meanwhile; a loop may deliver a first read anyway: uvloop does)."""

    def __init__(self, owner: EndpointProxy) -> None:
        super().__init__(owner)
        self.pending = bytearray()
        self.pending_eof = False

    def data_received(self, data: bytes) -> None:
        if self.peer is None:
            self.pending += data
        else:
            super().data_received(data)

    def eof_received(self) -> bool:
        if self.peer is None:
            self.pending_eof = True
            return True
        return super().eof_received()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.transport is not None
        self.transport.pause_reading()
        task = asyncio.get_running_loop().create_task(self._connect())
        self.owner._tasks.add(task)
        task.add_done_callback(self.owner._tasks.discard)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        outside = _Half(self.owner)
        try:
            await loop.create_connection(lambda: outside, self.owner.host, self.owner.port)
        except OSError:
            if self.transport is not None:
                self.transport.close()
            return
        if self.transport is None:  # the function hung up meanwhile
            if outside.transport is not None:
                outside.transport.close()
            return
        self.peer, outside.peer = outside, self
        if outside.transport is not None:
            if self.pending:
                outside.transport.write(bytes(self.pending))
                self.pending.clear()
            if self.pending_eof and outside.transport.can_write_eof():
                outside.transport.write_eof()
        self.transport.resume_reading()


class EndpointProxy:
    def __init__(self, listeners: list[socket.socket], host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._listeners = listeners
        self._loop: asyncio.AbstractEventLoop | None = None
        self._halves: set[_Half] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        """Accept on the listeners from the running loop (a reader each: cheaper than an
        ``asyncio.Server`` per listener on a cold start's path)."""
        self._loop = asyncio.get_running_loop()
        for sock in self._listeners:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _accept(self, listener: socket.socket) -> None:
        assert self._loop is not None
        while True:
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. out of descriptors: the function's connection is refused
                return
            conn.setblocking(False)
            task = self._loop.create_task(self._loop.connect_accepted_socket(lambda: _Inside(self), conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            for sock in self._listeners:
                if sock.fileno() >= 0:
                    loop.remove_reader(sock.fileno())
        self._loop = None
        for task in list(self._tasks):
            task.cancel()
        for half in list(self._halves):
            if half.transport is not None:
                with contextlib.suppress(RuntimeError):  # its event loop may be closed already
                    half.transport.abort()
        self._halves.clear()
