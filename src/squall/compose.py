"""The composition root: settings and a data directory in, the services and the gateway out.

`build_services` is the one place that knows every service and what each may
reach; the primary server (server.py) and every worker process (worker.py)
call it. Each provider receives everything it needs in its constructor:

```
                        calls (in-process client)     ports (typed, hot paths)
  STS        <-                                        RoleSessions      <- Lambda (execution roles)
  SQS        <-  SNS, S3, Lambda destinations          QueueFeed         <- Lambda (SQS mappings)
  SNS        <-  S3, Lambda destinations
  S3         <-                                        ObjectReader      <- Lambda (code from S3)
  DynamoDB   <-                                        StreamRecords     <- DynamoDB Streams, Lambda
  Lambda     <-                                        FunctionEvents    <- SNS, S3
```

The order of `PROVIDERS` is the order providers are built and their background
components started (each after those it reaches); shutdown runs in reverse.
A worker process builds only the providers that declare `worker_operations`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from squall.config import Settings
from squall.engine.concurrency import Limiter
from squall.engine.netns import Plan
from squall.gateway.app import Gateway
from squall.gateway.cors import CrossOrigin
from squall.gateway.credentials import AccountCredentials
from squall.gateway.extra_routes import RawHandler
from squall.lib.tasks import Background
from squall.lifespan import Lifespan
from squall.observability import Telemetry
from squall.protocol.errors import ServiceError
from squall.protocol.router import Router
from squall.services.base import ServiceProvider
from squall.services.calls import Calls
from squall.services.context import Principal
from squall.services.dynamodb.provider import DynamoDBProvider
from squall.services.dynamodbstreams.provider import DynamoDBStreamsProvider
from squall.services.lambda_.provider import LambdaProvider
from squall.services.logs.provider import LogsProvider
from squall.services.ports import ObjectReader
from squall.services.registry import ServiceRegistry
from squall.services.s3.provider import S3Provider
from squall.services.sns.provider import SnsProvider
from squall.services.sqs.provider import SqsProvider
from squall.services.sts.provider import StsProvider
from squall.services.sts.sessions import SessionStore
from squall.storage import DataDir


@dataclass
class Services:
    """The providers one process runs, and what the gateway needs from them."""

    registry: ServiceRegistry
    calls: Calls
    telemetry: Telemetry
    sessions: SessionStore
    #: Background components in start order (stopped in reverse).
    background: list[tuple[str, Background]] = field(default_factory=list)
    extra_routes: list[tuple[str, RawHandler]] = field(default_factory=list)
    cors: CrossOrigin | None = None

    def provider(self, service: str) -> ServiceProvider | None:
        return self.registry.get(service)

    def close(self) -> None:
        self.telemetry.close()


class _Built:
    """The providers built so far, by service name (a factory reads what it reaches)."""

    def __init__(self) -> None:
        self.by_name: dict[str, ServiceProvider] = {}

    def get(self, name: str) -> Any:
        return self.by_name.get(name)


Factory = Callable[[Settings, DataDir, "Services", _Built], ServiceProvider]


def _sts(s: Settings, d: DataDir, services: Services, built: _Built) -> ServiceProvider:
    return StsProvider({k.access_key_id: k.account_id for k in s.root_keys}, services.sessions)


def _logs(s: Settings, d: DataDir, services: Services, built: _Built) -> ServiceProvider:
    return LogsProvider(services.telemetry.logs, services.telemetry.writer)


def _sqs(s: Settings, d: DataDir, services: Services, built: _Built) -> ServiceProvider:
    return SqsProvider(d.store)


def _dynamodb(s: Settings, d: DataDir, services: Services, built: _Built) -> ServiceProvider:
    return DynamoDBProvider(d.store, ttl_interval=s.dynamodb_ttl_interval)


def _dynamodbstreams(s: Settings, d: DataDir, services: Services, built: _Built) -> ServiceProvider:
    return DynamoDBStreamsProvider(built.get("dynamodb").streams)


class _LateObjects:
    """S3's `ObjectReader` for Lambda, which is built before S3 (S3 delivers events to Lambda's
    door): forwards each read to S3's reader, built by then."""

    def __init__(self, built: _Built) -> None:
        self._built = built

    def read(
        self,
        principal: Principal,
        region: str,
        bucket: str,
        key: str,
        version_id: str | None = None,
        limit: int | None = None,
    ) -> bytes:
        s3 = self._built.get("s3")
        if s3 is None:
            raise ServiceError("ServiceUnavailable", "S3 is not available in this server", 503)
        reader: ObjectReader = s3.objects
        return reader.read(principal, region, bucket, key, version_id, limit)


def _lambda(s: Settings, d: DataDir, services: Services, built: _Built) -> ServiceProvider:
    sts, sqs, dynamodb = built.get("sts"), built.get("sqs"), built.get("dynamodb")
    return LambdaProvider(
        d.store,
        d.blobs,
        code_root=d.path / "code",
        keep_alive_s=s.lambda_keep_alive,
        limiter=Limiter(s.lambda_concurrency, scaling_rate=s.lambda_scaling_rate),
        async_retry_base_s=s.async_retry_base_seconds,
        async_concurrency=s.async_concurrency,
        endpoint=s.endpoint,
        telemetry=services.telemetry,
        calls=services.calls,
        role_sessions=sts.role_sessions if sts is not None else None,
        queues=sqs.feed if sqs is not None else None,
        streams=dynamodb.streams if dynamodb is not None else None,
        objects=_LateObjects(built),
        network=Plan(s.port, _upstream_host(s.host), egress=s.lambda_egress == "on"),
    )


def _upstream_host(host: str) -> str:
    """Where this process reaches its own listening socket."""
    return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)


def _sns(s: Settings, d: DataDir, services: Services, built: _Built) -> ServiceProvider:
    lambda_ = built.get("lambda")
    return SnsProvider(
        d.store,
        d.path / "sns",
        s.endpoint,
        calls=services.calls,
        functions=lambda_.events if lambda_ is not None else None,
        delay_scale=s.sns_delay_scale,
    )


def _s3(s: Settings, d: DataDir, services: Services, built: _Built) -> ServiceProvider:
    lambda_ = built.get("lambda")
    return S3Provider(
        d.store,
        d.blobs,
        calls=services.calls,
        functions=lambda_.events if lambda_ is not None else None,
        lifecycle_day=s.lifecycle_day_seconds,
    )


#: Every service, in build and start order: a provider is built after those whose ports it
#: takes (Lambda reaches S3's object reader, built after it, through `_LateObjects`).
PROVIDERS: Sequence[tuple[type[ServiceProvider], Factory]] = (
    (StsProvider, _sts),
    (LogsProvider, _logs),
    (SqsProvider, _sqs),
    (DynamoDBProvider, _dynamodb),
    (DynamoDBStreamsProvider, _dynamodbstreams),
    (LambdaProvider, _lambda),
    (SnsProvider, _sns),
    (S3Provider, _s3),
)


def build_services(settings: Settings, data_dir: DataDir, *, worker: bool = False) -> Services:
    """Build the providers of a server process: all of them for the primary, those that declare
    `worker_operations` for a worker (which runs no background work)."""
    registry = ServiceRegistry([])
    sessions = SessionStore(data_dir.store)
    services = Services(registry, Calls(registry, settings.endpoint), Telemetry(data_dir.store), sessions)
    built = _Built()
    for cls, factory in PROVIDERS:
        if worker and not cls.worker_operations:
            continue
        provider = factory(settings, data_dir, services, built)
        built.by_name[provider.service] = provider
        registry.add(provider)
    lambda_, s3 = built.get("lambda"), built.get("s3")
    if not worker:
        services.background = [(p.service, c) for p in registry for c in p.background()]
        if lambda_ is not None:
            services.extra_routes.append((lambda_.route_prefix, lambda_.serve_code))
        sns = built.get("sns")
        if sns is not None:
            services.extra_routes.append((sns.route_prefix, sns.serve_url))
            services.extra_routes.extend((prefix, sns.serve_url) for prefix in sns.link_prefixes)
        if s3 is not None:
            services.cors = s3.cors
    return services


def build_gateway(settings: Settings, services: Services, *, worker: bool = False) -> Gateway:
    """The ASGI app over `services` (with the server's lifespan unless `worker`)."""
    return Gateway(
        router=Router(base_hosts=settings.base_hosts),
        credentials=AccountCredentials(settings.root_keys, services.sessions),
        services=services.registry,
        endpoint=settings.endpoint,
        max_body_bytes=settings.max_body_bytes,
        body_timeout=settings.body_timeout,
        clock_skew=settings.clock_skew,
        default_region=settings.region,
        extra_routes=services.extra_routes,
        cors=services.cors,
        lifespan=None if worker else Lifespan(services.background),
    )
