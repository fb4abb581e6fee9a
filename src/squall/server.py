"""The composition root: settings -> data directory -> services -> gateway -> uvicorn."""

from __future__ import annotations

import contextlib
import errno
import gc
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import uvicorn

from squall import __version__
from squall.compose import Services, build_gateway, build_services
from squall.config import Settings
from squall.engine.host import Isolation, probe_isolation
from squall.gateway.app import Gateway
from squall.gateway.timeouts import guarded_http
from squall.storage import DataDir
from squall.worker import Notices, Workers, listen_socket, primary_socket

log = logging.getLogger("squall")


@dataclass
class Server:
    """A built (not yet serving) Squall server. Owns its data directory."""

    settings: Settings
    data_dir: DataDir
    services: Services
    gateway: Gateway
    isolation: Isolation

    def close(self) -> None:
        self.services.close()  # buffered log events and metrics reach the store before it closes
        self.data_dir.close()


def build(settings: Settings) -> Server:
    """Open the data directory (taking its lock) and build the services and the gateway
    (compose.py)."""
    data_dir = DataDir.open(
        settings.data_dir,
        synchronous=settings.sync_mode,
        processes=settings.processes,
        wal_limit=settings.wal_limit,
    )
    services: Services | None = None
    try:
        services = build_services(settings, data_dir)
        gateway = build_gateway(settings, services)
        services.telemetry.start()
        return Server(settings, data_dir, services, gateway, probe_isolation())
    except BaseException:
        if services is not None:
            services.close()
        data_dir.close()
        raise


def banner(server: Server) -> str:
    """What `squall up` prints: never a secret (only access key ids; the secrets are the
    operator's, from --root-key or the default test/test)."""
    s = server.settings
    keys = ", ".join(f"{k.access_key_id} (account {k.account_id})" for k in s.root_keys)
    lines = [
        f"Squall {__version__}",
        f"  endpoint:    {s.endpoint}   (AWS_ENDPOINT_URL={s.endpoint})",
        f"  data dir:    {server.data_dir.path}",
        f"  credentials: {keys}",
        f"  region:      {s.region}",
        *(
            [f"  processes:   1 + {s.processes - 1} workers serving DynamoDB item operations"]
            if s.processes > 1
            else []
        ),
        "  isolation:",
        *(f"    {line}" for line in server.isolation.summary(egress=s.lambda_egress == "on")),
    ]
    return "\n".join(lines)


class ListenError(Exception):
    """The server cannot listen on its address (the message is one line, for the operator)."""


def listen(settings: Settings) -> tuple[socket.socket, socket.socket | None]:
    """(the listening socket, the port's claim). The claim is an abstract Unix socket named
    after the port: a second Squall on the same port (any host address) fails to bind it,
    whatever the process mode (with SO_REUSEPORT the kernel would otherwise let both listen
    and split the connections between two data directories at random). A port held by
    another program is found by binding without SO_REUSEPORT. Port 0 (any free port) takes
    no claim. Raises ListenError."""
    where = f"{settings.host}:{settings.port}"
    claim: socket.socket | None = None
    if settings.port:
        claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            claim.bind(f"\0squall-listen-port-{settings.port}")
        except OSError:
            claim.close()
            raise ListenError(f"cannot listen on {where}: another Squall server is using it") from None
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(
            settings.host, settings.port, type=socket.SOCK_STREAM
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(addr)  # no SO_REUSEPORT: fails if anyone else listens there
            if settings.processes > 1:
                sock.close()
                sock = listen_socket(settings.host, settings.port)  # workers bind it too
            else:
                sock.listen(2048)
                sock.set_inheritable(False)
        except BaseException:
            sock.close()
            raise
    except OSError as exc:
        if claim is not None:
            claim.close()
        reason = "the address is in use by another program" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise ListenError(f"cannot listen on {where}: {reason or exc}") from None
    return sock, claim


def serve(settings: Settings, *, echo: Callable[[str], None] = print) -> None:
    """Run in the foreground until SIGINT/SIGTERM; uvicorn handles the signals and drains.
    Raises ListenError (before anything is built) if the address is taken."""
    listening, claim = listen(settings)
    try:
        _serve(settings, echo, listening)
    finally:
        listening.close()
        if claim is not None:
            claim.close()


def _serve(settings: Settings, echo: Callable[[str], None], listening: socket.socket) -> None:
    server = build(settings)
    try:
        config = uvicorn.Config(
            server.gateway,
            host=settings.host,
            port=settings.port,
            loop="auto",
            http=guarded_http(settings.header_timeout),  # httptools, with a request-head timeout
            lifespan="on",
            log_level=settings.log_level,
            access_log=False,
            server_header=False,
            proxy_headers=False,  # no proxy in front: X-Forwarded-* are not ours to trust
            timeout_keep_alive=settings.keep_alive_timeout,
        )
        http = uvicorn.Server(config)
        sockets = [listening]
        workers: Workers | None = None
        if settings.processes > 1:
            # SO_REUSEPORT on our socket and the workers': the kernel spreads connections.
            name, forwarded = primary_socket()
            sockets.append(forwarded)
            notices = Notices.listen(server.data_dir.store.notices)
            resolved = replace(settings, workers=settings.processes)  # workers see the same count
            workers = Workers(resolved, name, notices.name, settings.processes - 1, notices.beats)
            workers.start()
        server.data_dir.write_server_info(
            {
                "endpoint": settings.endpoint,
                "host": settings.host,
                "port": settings.port,
                "pid": os.getpid(),
                "started_at": time.time(),
                "version": __version__,
            }
        )
        echo(banner(server))
        _freeze_startup_heap()
        # uvicorn drains on SIGINT/SIGTERM, restores these handlers and re-raises the
        # signal; ours turn it into a normal return so the data directory is closed.
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        try:
            with contextlib.suppress(_Stopped):
                http.run(sockets=sockets)
        finally:
            if workers is not None:
                workers.stop()
                notices.close()
        echo("Squall stopped.")
    finally:
        server.close()


def _freeze_startup_heap() -> None:
    """Move what start-up built (botocore's service models, compiled plans, caches) out of the
    garbage collector's reach: full collections then scan only what requests create, instead
    of pausing the event loop for 50-70 ms every second or two under load."""
    gc.collect()
    gc.freeze()


class _Stopped(Exception):
    pass


def _stop(signum: int, frame: object) -> None:
    raise _Stopped
