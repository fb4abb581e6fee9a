"""The Lambda Runtime API (version 2018-06-01) for one custom-runtime execution environment.

An HTTP/1.1 server (``h11`` over asyncio streams) on ``127.0.0.1:9001`` in
the EE's own network namespace (``netns.py``; where EEs share the host's
network, 127.0.0.1 and an ephemeral port), which the EE's ``bootstrap``
finds in ``AWS_LAMBDA_RUNTIME_API``:

- ``GET /2018-06-01/runtime/invocation/next`` long-polls until ``submit``
  hands it an event; the ``Lambda-Runtime-*`` headers describe it.
- ``POST .../invocation/{id}/response`` (202; over the limit 413 and the
  invocation fails with ``Function.ResponseSizeTooLarge``),
  ``POST .../invocation/{id}/error`` (202; ``Lambda-Runtime-Function-Error-Type``),
  ``POST /2018-06-01/runtime/init/error`` (202; fails Init). An id other than
  the current invocation's is a 400 ``InvalidRequestID``; other paths 404.

The EE waits on ``first_next`` (the end of Init), ``init_failure`` and each
invocation's ``Outcome`` future. Keep-alive, Content-Length and chunked
bodies, and ``Expect: 100-continue`` are handled by h11.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from dataclasses import dataclass, field

import h11

from squall.engine.ee_base import SYNC_RESPONSE_LIMIT, error_doc, too_large_doc

PREFIX = "/2018-06-01/runtime/"
READ_CHUNK = 65536


@dataclass(frozen=True)
class Outcome:
    ok: bool
    body: bytes  # the function's result, or its error document


@dataclass
class Invocation:
    request_id: str
    event: bytes
    headers: dict[str, str]
    outcome: asyncio.Future[Outcome] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


def _error_body(body: bytes, error_type: str | None) -> bytes:
    """The error document a runtime posted, kept as is when it is a JSON object."""
    try:
        doc = json.loads(body) if body else None
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        return body
    return error_doc(error_type or "Runtime.Unknown", body.decode("utf-8", "replace") if body else "")


class RuntimeApi:
    def __init__(self, max_response_bytes: int | None = SYNC_RESPONSE_LIMIT) -> None:
        self.max_response_bytes = max_response_bytes
        self.first_next = asyncio.Event()
        self.init_failure: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._queue: asyncio.Queue[Invocation] = asyncio.Queue()
        self._current: Invocation | None = None
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    async def start(self, sock: socket.socket | None = None) -> str:
        """Listen on ``sock`` (made in the EE's network namespace), else on 127.0.0.1 and an
        ephemeral port; the ``host:port`` for ``AWS_LAMBDA_RUNTIME_API``."""
        if sock is not None:
            self._server = await asyncio.start_server(self._serve, sock=sock)
        else:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"{host}:{port}"

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._conns):
            with contextlib.suppress(RuntimeError):  # its event loop may be closed already
                writer.close()
        self._conns.clear()
        current = self._current
        if current is not None and not current.outcome.done():
            current.outcome.cancel()

    def submit(self, invocation: Invocation, max_response_bytes: int | None) -> None:
        """Hand an invocation to the (next) ``/next`` call; its outcome resolves on response or error."""
        self.max_response_bytes = max_response_bytes
        self._queue.put_nowait(invocation)

    def handed_out(self, invocation: Invocation) -> bool:
        """Did a ``/next`` return this invocation to the runtime?"""
        return self._current is invocation

    # -- HTTP ------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await self._read_request(conn, reader, writer)
                if request is None:
                    return
                method, target, headers, body = request
                status, payload, extra = await self._route(
                    method, target, headers, body, conn, reader, writer
                )
                content_type = "application/json" if status != 404 else "text/plain; charset=utf-8"
                out = [("Content-Type", content_type), ("Content-Length", str(len(payload))), *extra]
                writer.write(conn.send(h11.Response(status_code=status, headers=out)) or b"")
                writer.write(conn.send(h11.Data(data=payload)) or b"")
                writer.write(conn.send(h11.EndOfMessage()) or b"")
                await writer.drain()
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except (h11.ProtocolError, ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:  # the EE and its loop are going away: end the connection quietly
            return
        finally:
            self._conns.discard(writer)
            with contextlib.suppress(RuntimeError, ConnectionError):
                writer.close()

    async def _read_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[str, str, dict[str, str], bytes | None] | None:
        """One request; its body is None when it passes the response limit. Reading stops there
        (at the head when its Content-Length says so, else once the limit is passed: what was
        read is dropped), the answer is then 413 and the connection is closed."""
        head: h11.Request | None = None
        body = bytearray()
        limit = (self.max_response_bytes or SYNC_RESPONSE_LIMIT) + 1
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                if head is not None and conn.they_are_waiting_for_100_continue:
                    writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])) or b"")
                data = await reader.read(READ_CHUNK)
                conn.receive_data(data)
                if not data and head is None:
                    return None
                continue
            if isinstance(event, h11.Request):
                head = event
                if _declared_length(head) >= limit:
                    return self._request(head, None)
            elif isinstance(event, h11.Data):
                body += event.data[: limit - len(body)]
                if len(body) >= limit:
                    assert head is not None
                    return self._request(head, None)
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                return self._request(head, bytes(body))
            elif isinstance(event, h11.ConnectionClosed):
                return None

    @staticmethod
    def _request(head: h11.Request, body: bytes | None) -> tuple[str, str, dict[str, str], bytes | None]:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in head.headers}
        return head.method.decode(), head.target.decode("latin-1"), headers, body

    async def _route(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes | None,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> tuple[int, bytes, list[tuple[str, str]]]:
        path = target.split("?", 1)[0]
        if not path.startswith(PREFIX):
            return 404, b"404 page not found\n", []
        parts = path[len(PREFIX) :].split("/")
        if method == "GET" and parts == ["invocation", "next"]:
            return await self._next(conn, reader, writer)
        if method == "POST" and parts == ["init", "error"]:
            if self.first_next.is_set():
                msg = "State transition from Ready to InitError failed for runtime. Error: State transition is not allowed"
                return 403, error_doc("InvalidStateTransition", msg), []
            if not self.init_failure.done():
                error_type = headers.get("lambda-runtime-function-error-type")
                self.init_failure.set_result(_error_body(body or b"", error_type))
            return 202, b'{"status":"OK"}', []
        if (
            method == "POST"
            and len(parts) == 3
            and parts[0] == "invocation"
            and parts[2] in ("response", "error")
        ):
            current = self._current
            if current is None or parts[1] != current.request_id or current.outcome.done():
                return 400, error_doc("InvalidRequestID", "Invalid request ID"), []
            self._current = None
            limit = self.max_response_bytes or SYNC_RESPONSE_LIMIT
            if body is None:  # past the limit: not kept, not read further
                current.outcome.set_result(Outcome(False, too_large_doc(limit)))
                msg = f"Exceeded maximum allowed payload size ({limit} bytes)."
                return 413, error_doc("RequestEntityTooLarge", msg), []
            if parts[2] == "error":
                error_type = headers.get("lambda-runtime-function-error-type")
                current.outcome.set_result(Outcome(False, _error_body(body, error_type)))
                return 202, b'{"status":"OK"}', []
            if len(body) > limit:
                current.outcome.set_result(Outcome(False, too_large_doc(limit)))
                msg = f"Exceeded maximum allowed payload size ({limit} bytes)."
                return 413, error_doc("RequestEntityTooLarge", msg), []
            current.outcome.set_result(Outcome(True, body))
            return 202, b'{"status":"OK"}', []
        return 404, b"404 page not found\n", []

    async def _next(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[int, bytes, list[tuple[str, str]]]:
        """Long-poll for the next event; a runtime that hangs up meanwhile leaves it to the next caller."""
        self.first_next.set()
        get = asyncio.ensure_future(self._queue.get())
        try:
            while not get.done():
                hangup = asyncio.ensure_future(reader.read(READ_CHUNK))
                try:
                    await asyncio.wait([get, hangup], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    hangup.cancel()  # unread bytes stay in the reader's buffer
                    with contextlib.suppress(asyncio.CancelledError):
                        await hangup  # the reader allows one waiter: let this one go first
                data = None if hangup.cancelled() else hangup.result()
                if data == b"":
                    if get.done():
                        self._queue.put_nowait(get.result())
                    raise ConnectionError("the runtime hung up while waiting for /next")
                if data:
                    conn.receive_data(data)  # pipelined: h11 keeps it for the next request
        finally:
            if not get.done():
                get.cancel()
        invocation = get.result()
        if _peer_closed(writer):  # the runtime is gone, its hang-up not yet seen: keep the event
            self._queue.put_nowait(invocation)
            raise ConnectionError("the runtime hung up while waiting for /next")
        self._current = invocation
        return 200, invocation.event, list(invocation.headers.items())


def _declared_length(head: h11.Request) -> int:
    """The request's Content-Length (0 when absent or not a number: chunked bodies are counted
    as they arrive)."""
    for name, value in head.headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def _peer_closed(writer: asyncio.StreamWriter) -> bool:
    """Has the runtime closed (or reset) this connection, whether or not the loop has seen it yet?"""
    found = writer.get_extra_info("socket")
    if found is None:
        return False
    sock = socket.socket(fileno=found.fileno())  # the same descriptor, not a copy: detached below
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True
    finally:
        sock.detach()
