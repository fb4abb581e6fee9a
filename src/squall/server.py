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
from squall.config import Settings
from squall.engine.concurrency import Limiter
from squall.engine.host import Isolation, probe_isolation
from squall.gateway.app import Gateway
from squall.gateway.credentials import AccountCredentials
from squall.lifespan import Lifespan
from squall.observability import Telemetry
from squall.protocol.router import Router
from squall.services.dynamodb.provider import DynamoDBProvider
from squall.services.dynamodbstreams.provider import DynamoDBStreamsProvider
from squall.services.lambda_.provider import LambdaProvider
from squall.services.logs.provider import LogsProvider
from squall.services.registry import ServiceRegistry
from squall.services.s3.provider import S3Provider
from squall.services.sns.provider import SnsProvider
from squall.services.sqs.provider import SqsProvider
from squall.services.sts.provider import StsProvider
from squall.services.sts.sessions import SessionStore
from squall.storage import DataDir
from squall.worker import StreamNotices, Workers, listen_socket, primary_socket

log = logging.getLogger("squall")


@dataclass
class Server:
    """A built (not yet serving) Squall server. Owns its data directory."""

    settings: Settings
    data_dir: DataDir
    gateway: Gateway
    isolation: Isolation
    telemetry: Telemetry

    def close(self) -> None:
        self.telemetry.close()  # buffered log events and metrics reach the store before it closes
        self.data_dir.close()


def build(settings: Settings) -> Server:
    """Open the data directory (taking its lock) and wire the layers together."""
    data_dir = DataDir.open(settings.data_dir, synchronous=settings.sync_mode, processes=settings.processes)
    telemetry = Telemetry(data_dir.store)
    try:
        sessions = SessionStore(data_dir.store)
        credentials = AccountCredentials(settings.root_keys, sessions)
        key_accounts = {k.access_key_id: k.account_id for k in settings.root_keys}
        lambda_ = LambdaProvider(
            data_dir.store,
            data_dir.blobs,
            code_root=data_dir.path / "code",
            keep_alive_s=settings.lambda_keep_alive,
            limiter=Limiter(settings.lambda_concurrency, scaling_rate=settings.lambda_scaling_rate),
            async_retry_base_s=settings.async_retry_base_seconds,
            async_concurrency=settings.async_concurrency,
            endpoint=settings.endpoint,
            telemetry=telemetry,
        )
        logs = LogsProvider(telemetry.logs, telemetry.writer)
        sqs = SqsProvider(data_dir.store)
        sns = SnsProvider(
            data_dir.store,
            data_dir.path / "sns",
            settings.endpoint,
            queues=sqs.queues,
            functions=lambda_.events,
            delay_scale=settings.sns_delay_scale,
        )
        lambda_.connect_destinations(queues=sqs.queues, topics=sns.topics)
        lambda_.connect_event_sources(sqs=sqs.queues)
        s3 = S3Provider(data_dir.store, data_dir.blobs, lifecycle_day=settings.lifecycle_day_seconds)
        s3.connect(queues=sqs.queues, topics=sns.topics, functions=lambda_.events)
        lambda_.connect_s3(s3.objects)
        dynamodb = DynamoDBProvider(data_dir.store, ttl_interval=settings.dynamodb_ttl_interval)
        dynamodbstreams = DynamoDBStreamsProvider(data_dir.store)
        lambda_.connect_event_sources(dynamodb_streams=dynamodbstreams.streams)
        services = ServiceRegistry(
            [StsProvider(key_accounts, sessions), lambda_, logs, sqs, sns, s3, dynamodb, dynamodbstreams]
        )
        gateway = Gateway(
            router=Router(base_hosts=settings.base_hosts),
            credentials=credentials,
            services=services,
            endpoint=settings.endpoint,
            max_body_bytes=settings.max_body_bytes,
            body_timeout=settings.body_timeout,
            clock_skew=settings.clock_skew,
            default_region=settings.region,
            extra_routes=[(lambda_.route_prefix, lambda_.serve_code), (sns.route_prefix, sns.serve_url)],
            cors=s3.cors,
            lifespan=Lifespan([(p.service, c) for p in services for c in p.background()]),
        )
        telemetry.start()
        return Server(settings, data_dir, gateway, probe_isolation(), telemetry)
    except BaseException:
        telemetry.close()
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
        *(f"    {line}" for line in server.isolation.summary()),
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
            notices = StreamNotices.listen()
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
