"""Worker processes: more cores for DynamoDB's item operations (`squall up --workers N`).

One Python process runs on one core. With N > 1 the primary server (server.py,
which runs functions and owns every background task) starts N - 1 workers.
Each binds the same TCP port (SO_REUSEPORT: the kernel spreads connections over
the processes) and:

- reads the head of each new connection's first request (`SniffingProtocol`):
  a DynamoDB item operation (`LOCAL_TARGETS`, reads and writes) keeps the
  connection here, served by uvicorn and the same Gateway code (SigV4,
  parsing, validation, serialisation) as the primary, on the same database
  (storage/: writers of all processes are serialised by SQLite; change
  counters are shared, so every process's caches follow every commit);
  anything else splices the connection to the primary over a Unix socket,
  byte for byte, for its whole life;
- forwards a later request on a kept connection that is not an item operation
  to the primary (gateway/forward.py: a second HTTP hop, for that request);
- tells the primary about stream records it appended (`StreamNotices`), so the
  primary's stream pollers wake at once, as for its own writes.

A worker dies with the primary (PR_SET_PDEATHSIG) and is restarted if it dies
alone.

Run as `python -m squall.worker PARENT_PID`, with the pickled `Settings`, the
primary's socket names and the worker's index on stdin (only the primary starts it).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from squall.gateway.app import Receive, Scope, Send
from squall.gateway.splice import sniffing_protocol

log = logging.getLogger("squall")

#: DynamoDB's item operations: served in the worker that received them. (Table operations go to
#: the primary, which runs the table's background work: status, TTL sweeps, stream trimming.)
LOCAL_TARGETS = frozenset(
    f"DynamoDB_20120810.{op}".encode()
    for op in (
        "GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems",
        "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems",
        "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction",
    )
)  # fmt: skip

App = Callable[[Scope, Receive, Send], Awaitable[None]]


def listen_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket that other processes of this user may bind too (SO_REUSEPORT)."""
    family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(addr)
    sock.listen(2048)
    sock.set_inheritable(False)
    return sock


def _abstract_name(kind: str) -> str:
    """A Linux abstract socket name (no file to clean up, no path-length limit), unique per
    server process."""
    return f"\0squall-{kind}-{os.getpid()}-{os.urandom(4).hex()}"


def primary_socket() -> tuple[str, socket.socket]:
    """The Unix socket the primary listens on for forwarded requests."""
    name = _abstract_name("primary")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(name)
    sock.listen(2048)
    return name, sock


class StreamNotices:
    """DynamoDB stream appends committed in a worker, told to the primary, whose stream pollers
    wait on in-process wake-ups (services/dynamodb/streams.py LISTENERS; without a notice they
    would only find the records at their next 250 ms poll).

    The primary's side (`listen`) is a thread receiving datagrams, each a stream ARN, and
    calling the primary's listeners (they are thread-safe: they defer to the loop). The
    worker's side (`relay`) is a listener that sends the ARN once control is back on the
    event loop, i.e. after the writing transaction committed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._sock: socket.socket | None = None
        self._pending: set[str] = set()

    @classmethod
    def listen(cls) -> StreamNotices:
        from squall.services.dynamodb import streams

        notices = cls(_abstract_name("streams"))
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(notices.name)
        notices._sock = sock

        def run() -> None:
            while True:
                try:
                    data = sock.recv(4096)
                except OSError:
                    return  # closed
                arn = data.decode(errors="replace")
                for listener in list(streams.LISTENERS):
                    listener(arn)

        threading.Thread(target=run, name="squall-stream-notices", daemon=True).start()
        return notices

    def relay(self) -> None:
        from squall.services.dynamodb import streams

        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        self._sock = sock

        def send() -> None:
            pending, self._pending = self._pending, set()
            for arn in pending:
                with contextlib.suppress(OSError):  # the primary is gone or behind: it polls too
                    sock.sendto(arn.encode(), self.name)

        def appended(arn: str) -> None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            if not self._pending:
                loop.call_soon(send)
            self._pending.add(arn)

        streams.LISTENERS.add(appended)

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()


_LOCAL_OPS = frozenset(t.split(b".", 1)[1].lower() for t in LOCAL_TARGETS)
_TARGET = b"\r\nx-amz-target:"


def _local_head(head: bytes) -> bool:
    """Whether a request head (request line and headers) is one of `LOCAL_TARGETS`."""
    if not head.startswith(b"POST "):
        return False
    lowered = head.lower()
    at = lowered.find(_TARGET)
    if at < 0:
        return False
    end = lowered.find(b"\r\n", at + 2)
    value = lowered[at + len(_TARGET) : end if end >= 0 else len(lowered)].strip()
    service, _, op = value.partition(b".")
    return service == b"dynamodb_20120810" and op in _LOCAL_OPS


class WorkerApp:
    """The worker's ASGI app: local reads through `gateway`, the rest through `forward`."""

    def __init__(self, gateway: App, forward: App) -> None:
        self.gateway = gateway
        self.forward = forward

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":  # nothing to start: the primary runs every background task
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if kind != "http":
            return
        if scope["method"] == "POST":
            for name, value in scope["headers"]:  # ASGI names are lower case
                if name == b"x-amz-target":
                    if value in LOCAL_TARGETS:
                        await self.gateway(scope, receive, send)
                        return
                    break
        await self.forward(scope, receive, send)


def build_app(settings: Any, primary: str, index: int) -> WorkerApp:
    from squall.gateway.app import Gateway
    from squall.gateway.credentials import AccountCredentials
    from squall.gateway.forward import Forwarder
    from squall.protocol.router import Router
    from squall.services.dynamodb.provider import DynamoDBProvider
    from squall.services.registry import ServiceRegistry
    from squall.services.sts.sessions import SessionStore
    from squall.storage import DataDir

    store = DataDir.worker_store(settings.data_dir, index, settings.processes, synchronous=settings.sync_mode)
    sessions = SessionStore(store)
    gateway = Gateway(
        router=Router(base_hosts=settings.base_hosts),
        credentials=AccountCredentials(settings.root_keys, sessions),
        services=ServiceRegistry([DynamoDBProvider(store, ttl_interval=settings.dynamodb_ttl_interval)]),
        endpoint=settings.endpoint,
        max_body_bytes=settings.max_body_bytes,
        body_timeout=settings.body_timeout,
        clock_skew=settings.clock_skew,
        default_region=settings.region,
    )
    return WorkerApp(gateway, Forwarder(primary))


def _die_with_parent(parent: int) -> None:
    PR_SET_PDEATHSIG = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the prctl
        sys.exit(0)


def main() -> None:
    import uvicorn

    _die_with_parent(int(sys.argv[1]))
    settings, primary, notices, index = pickle.load(sys.stdin.buffer)
    logging.basicConfig(level=settings.log_level.upper(), format="%(message)s")
    sock = listen_socket(settings.host, settings.port)
    app = build_app(settings, primary, index)
    StreamNotices(notices).relay()
    gc.collect()
    gc.freeze()  # as the primary does (server.py)
    config = uvicorn.Config(
        app,
        loop="auto",
        http=sniffing_protocol(primary, _local_head),
        lifespan="on",
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=30,
    )
    uvicorn.Server(config).run(sockets=[sock])


class Workers:
    """The primary's side: starts `count` workers, restarts one that dies, stops them all."""

    def __init__(self, settings: Any, primary: str, notices: str, count: int) -> None:
        self.settings = settings
        self.primary = primary
        self.notices = notices
        self.count = count
        self._procs: list[subprocess.Popen[bytes]] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def _spawn(self, index: int) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "squall.worker", str(os.getpid())],
            stdin=subprocess.PIPE,
            close_fds=True,
        )
        assert proc.stdin is not None
        proc.stdin.write(pickle.dumps((self.settings, self.primary, self.notices, index)))
        proc.stdin.close()
        return proc

    def start(self) -> None:
        for index in range(1, self.count + 1):
            proc = self._spawn(index)
            self._procs.append(proc)
            threading.Thread(
                target=self._watch, args=(proc, index), name="squall-worker", daemon=True
            ).start()

    def _watch(self, proc: subprocess.Popen[bytes], index: int) -> None:
        while True:
            code = proc.wait()
            if self._stopping.is_set():
                return
            log.warning("worker %d exited with %s; starting another", proc.pid, code)
            time.sleep(1.0)
            if self._stopping.is_set():
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                fresh = self._spawn(index)
                self._procs = [fresh if p is proc else p for p in self._procs]
            proc = fresh

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
