"""The composition root: settings -> data directory -> services -> gateway -> uvicorn."""

from __future__ import annotations

import contextlib
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
    data_dir = DataDir.open(settings.data_dir, synchronous=settings.sync_mode, processes=settings.processes)
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
    s = server.settings
    keys = ", ".join(
        f"{k.access_key_id} / {k.secret_access_key} (account {k.account_id})" for k in s.root_keys
    )
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


def serve(settings: Settings, *, echo: Callable[[str], None] = print) -> None:
    """Run in the foreground until SIGINT/SIGTERM; uvicorn handles the signals and drains."""
    server = build(settings)
    try:
        config = uvicorn.Config(
            server.gateway,
            host=settings.host,
            port=settings.port,
            loop="auto",
            http="auto",
            lifespan="on",
            log_level=settings.log_level,
            access_log=False,
            server_header=False,
            proxy_headers=False,  # no proxy in front: X-Forwarded-* are not ours to trust
            timeout_keep_alive=30,
        )
        http = uvicorn.Server(config)
        sockets: list[socket.socket] | None = None
        workers: Workers | None = None
        if settings.processes > 1:
            # SO_REUSEPORT on our socket and the workers': the kernel spreads connections.
            sockets = [listen_socket(settings.host, settings.port)]
            name, forwarded = primary_socket()
            sockets.append(forwarded)
            notices = Notices.listen(server.data_dir.store.notices)
            resolved = replace(settings, workers=settings.processes)  # workers see the same count
            workers = Workers(resolved, name, notices.name, settings.processes - 1)
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
