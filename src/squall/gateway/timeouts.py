"""Connection timeouts uvicorn does not enforce: the request head must arrive in time.

uvicorn closes a keep-alive connection that stays idle `timeout_keep_alive` seconds after
a response, but it arms no timer on a new connection, and any byte received cancels the
keep-alive timer without arming another: a client that opens connections and sends
nothing, or sends its headers one byte every few seconds (slowloris), holds them forever.
Here every connection must complete each request head (request line and headers) within
`header_timeout` seconds of its connection, or of that request's first byte; else it is
closed.

One loop timer serves every connection (`deadlines.TimerQueue`, as for body reads): a
request costs a dict insert and a pop, no timer handle of its own.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from squall.gateway.deadlines import TimerQueue


class Closable(Protocol):
    def head_timed_out(self) -> None: ...


class HeadDeadlines:
    """Calls `head_timed_out()` on each connection still waiting for its head after `timeout`."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._queue: TimerQueue[Closable, None] = TimerQueue(timeout, _timed_out)

    def start(self, conn: Closable, loop: asyncio.AbstractEventLoop) -> None:
        """`conn` waits for a request head from now (no-op if it already waits)."""
        self._queue.add(conn, None, loop)

    def done(self, conn: Closable) -> None:
        """`conn`'s head arrived (or it closed)."""
        self._queue.discard(conn)


def _timed_out(conn: Closable, _: None) -> None:
    conn.head_timed_out()


def guarded_http(header_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol, closing connections whose request head is late."""
    deadlines = HeadDeadlines(header_timeout)
    return type("GuardedHttp", (_GuardedHttp,), {"head_deadlines": deadlines})


class _GuardedHttp(HttpToolsProtocol):
    head_deadlines: HeadDeadlines

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.head_deadlines.start(self, self.loop)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.head_deadlines.start(self, self.loop)  # a keep-alive connection's next request

    def on_headers_complete(self) -> None:
        self.head_deadlines.done(self)
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self.head_deadlines.done(self)
        super().connection_lost(exc)

    def head_timed_out(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()
