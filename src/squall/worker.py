"""Worker processes: more cores for the operations that need no primary (`squall up --workers N`).

One Python process runs on one core. With N > 1 the primary server (server.py,
which runs functions and owns every background task) starts N - 1 workers.
Each builds, through the same composition root (compose.py, `worker=True`), the
providers that declare `worker_operations` (today DynamoDB's item operations),
binds the same TCP port (SO_REUSEPORT: the kernel spreads connections over
the processes) and:

- reads the head of each new connection's first request (`SniffingProtocol`):
  a worker operation (`worker_targets`, from the providers' declarations and
  their models' `X-Amz-Target` prefixes) keeps the connection here, served by
  uvicorn and the same Gateway code (SigV4, parsing, validation, authorization,
  serialisation) as the primary, on the same database (storage/: writers of
  all processes are serialised by SQLite; change counters are shared, so every
  process's caches follow every commit); anything else splices the connection
  to the primary over a Unix socket, byte for byte, for its whole life;
- forwards a later request on a kept connection that is not a worker operation
  to the primary (gateway/forward.py: a second HTTP hop, for that request);
- relays the commit notices of its store to the primary (`Notices`), so whoever
  waits on them there (DynamoDB stream readers) wakes at once, as for the
  primary's own writes.

A worker dies with the primary (PR_SET_PDEATHSIG) and is restarted if it dies
alone. Its event loop sends the primary a heartbeat datagram (over the Notices
socket) every `worker_timeout / 4` seconds; a worker silent for `worker_timeout`
(SIGSTOPped, or its loop blocked) is killed, which closes its listening socket so
the kernel stops giving it connections, and replaced.

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
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from squall.gateway.app import Receive, Scope, Send
from squall.gateway.splice import sniffing_protocol
from squall.storage.notices import Notices as StoreNotices

log = logging.getLogger("squall")

App = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Seconds a new worker may take to send its first heartbeat (start-up), on top of the timeout.
STARTUP_GRACE = 30.0


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


def worker_targets(providers: Iterable[Any]) -> frozenset[bytes]:
    """The `X-Amz-Target` values of the providers' `worker_operations` (JSON-protocol services:
    `<targetPrefix>.<Operation>`), as they arrive on the wire."""
    from squall.protocol.models import service_model

    found: set[bytes] = set()
    for provider in providers:
        if provider.worker_operations:
            prefix = service_model(provider.service).metadata["targetPrefix"]
            found.update(f"{prefix}.{op}".encode() for op in provider.worker_operations)
    return frozenset(found)


class Notices:
    """Commit notices (storage/notices.py) of the workers' stores, relayed to the primary's.

    The primary's side (`listen`) is a thread receiving datagrams (`channel` NUL `value`) and
    publishing them to the primary's store notices (its listeners are thread-safe). The worker's
    side (`relay`) subscribes to every channel of its store and sends what it committed once
    control is back on its event loop (after the commit)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._sock: socket.socket | None = None
        self._pending: set[tuple[str, str]] = set()
        #: The primary's side: worker pid -> monotonic time of its last heartbeat.
        self.beats: dict[int, float] = {}

    @classmethod
    def listen(cls, notices: StoreNotices) -> Notices:
        relay = cls(_abstract_name("notices"))
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(relay.name)
        relay._sock = sock

        def run() -> None:
            while True:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return  # closed
                channel, _, value = data.decode(errors="replace").partition("\0")
                if channel == HEARTBEAT:
                    with contextlib.suppress(ValueError):
                        relay.beats[int(value)] = time.monotonic()
                    continue
                notices.publish([(channel, value)], relayed=True)

        threading.Thread(target=run, name="squall-notices", daemon=True).start()
        return relay

    def relay(self, notices: StoreNotices) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        self._sock = sock

        def send() -> None:
            pending, self._pending = self._pending, set()
            for channel, value in pending:
                with contextlib.suppress(OSError):  # the primary is gone or behind: it polls too
                    sock.sendto(f"{channel}\0{value}".encode(), self.name)

        def committed(channel: str, value: str) -> None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            if not self._pending:
                loop.call_soon(send)
            self._pending.add((channel, value))

        notices.subscribe_all(committed)

    def heartbeat(self, interval: float) -> None:
        """The worker's side: from now on, every `interval` seconds its event loop sends the
        primary a heartbeat (a stopped or blocked loop sends none: `Workers` then replaces it)."""
        loop = asyncio.get_running_loop()
        message = f"{HEARTBEAT}\0{os.getpid()}".encode()

        def beat() -> None:
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.sendto(message, self.name)
            loop.call_later(interval, beat)

        beat()

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()


#: The Notices channel of worker heartbeats (no store channel starts with a control character).
HEARTBEAT = "\x01heartbeat"

_TARGET = b"\r\nx-amz-target:"


def _local_head(targets: frozenset[bytes]) -> Callable[[bytes], bool]:
    """Whether a request head (request line and headers) is one of `targets`."""
    lowered_targets = frozenset(t.lower() for t in targets)

    def local(head: bytes) -> bool:
        if not head.startswith(b"POST "):
            return False
        lowered = head.lower()
        at = lowered.find(_TARGET)
        if at < 0:
            return False
        end = lowered.find(b"\r\n", at + 2)
        return lowered[at + len(_TARGET) : end if end >= 0 else len(lowered)].strip() in lowered_targets

    return local


class WorkerApp:
    """The worker's ASGI app: local reads through `gateway`, the rest through `forward`."""

    def __init__(
        self,
        gateway: App,
        forward: App,
        targets: frozenset[bytes],
        on_start: Callable[[], None] = lambda: None,
    ) -> None:
        self.gateway = gateway
        self.forward = forward
        self.targets = targets
        self.on_start = on_start

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":  # the worker's gateway has none: the primary runs every background task
            self.on_start()  # on the serving loop: heartbeats
            await self.gateway(scope, receive, send)
            return
        if kind != "http":
            return
        if scope["method"] == "POST":
            for name, value in scope["headers"]:  # ASGI names are lower case
                if name == b"x-amz-target":
                    if value in self.targets:
                        await self.gateway(scope, receive, send)
                        return
                    break
        await self.forward(scope, receive, send)


def build_app(settings: Any, primary: str, index: int) -> tuple[WorkerApp, StoreNotices]:
    """The worker's app over the providers compose.py builds for workers, and its store's
    commit notices (to relay)."""
    from squall.compose import build_gateway, build_services
    from squall.gateway.forward import Forwarder
    from squall.storage import DataDir

    data_dir = DataDir.attach(
        settings.data_dir,
        index,
        settings.processes,
        synchronous=settings.sync_mode,
        wal_limit=settings.wal_limit,
    )
    services = build_services(settings, data_dir, worker=True)
    gateway = build_gateway(settings, services, worker=True)
    return WorkerApp(gateway, Forwarder(primary), worker_targets(services.registry)), data_dir.store.notices


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
    app, store_notices = build_app(settings, primary, index)
    relay = Notices(notices)
    relay.relay(store_notices)
    app.on_start = lambda: relay.heartbeat(settings.worker_timeout / 4)
    gc.collect()
    gc.freeze()  # as the primary does (server.py)
    # Listen once built: the kernel queues connections on a listening socket, and a worker still
    # importing would hold them for its whole start-up.
    sock = listen_socket(settings.host, settings.port)
    config = uvicorn.Config(
        app,
        loop="auto",
        http=sniffing_protocol(primary, _local_head(app.targets), settings.header_timeout),
        lifespan="on",
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=settings.keep_alive_timeout,
    )
    uvicorn.Server(config).run(sockets=[sock])


class Workers:
    """The primary's side: starts `count` workers, restarts one that dies, stops them all."""

    def __init__(
        self, settings: Any, primary: str, notices: str, count: int, beats: dict[int, float] | None = None
    ) -> None:
        """`beats`: the primary's `Notices.beats` (worker pid -> last heartbeat); a worker whose
        heartbeats stop for `settings.worker_timeout` seconds (SIGSTOP, a blocked loop) is killed,
        so its socket closes and the kernel gives its connections to the others, and replaced."""
        self.settings = settings
        self.primary = primary
        self.notices = notices
        self.count = count
        self.beats = beats if beats is not None else {}
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

    def _wait_or_hang(self, proc: subprocess.Popen[bytes]) -> int:
        """Wait for `proc` to exit; kill it first if its heartbeats stop (it is hung)."""
        timeout = float(self.settings.worker_timeout)
        started = time.monotonic()
        while True:
            try:
                return proc.wait(timeout / 4)
            except subprocess.TimeoutExpired:
                pass
            if self._stopping.is_set():
                continue
            now = time.monotonic()
            last = self.beats.get(proc.pid)
            # Before its first heartbeat a worker is starting (imports, building its services).
            if now - (last if last is not None else started + STARTUP_GRACE) > timeout:
                log.warning("worker %d sent no heartbeat for %.0f s; killing it", proc.pid, timeout)
                proc.kill()

    def _watch(self, proc: subprocess.Popen[bytes], index: int) -> None:
        while True:
            code = self._wait_or_hang(proc)
            self.beats.pop(proc.pid, None)
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
