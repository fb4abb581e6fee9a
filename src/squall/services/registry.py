"""The set of providers a server runs, by botocore service name, and the one way into an
operation: table lookup -> authorization -> handler (`dispatch`), used by the gateway for wire
requests and by the in-process client (calls.py) for calls between services."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Iterator
from typing import Any

from squall.protocol.models import SERVED_SERVICES
from squall.services.authorize import AccountScoped, Authorizer
from squall.services.base import ServiceProvider, not_implemented
from squall.services.context import RequestContext
from squall.services.operations import Operation


class ServiceRegistry:
    def __init__(self, providers: Iterable[ServiceProvider], authorizer: Authorizer | None = None) -> None:
        self._providers = {p.service: p for p in providers}
        self.authorizer: Authorizer = authorizer or AccountScoped()

    def add(self, provider: ServiceProvider) -> None:
        """Register a built provider (the composition root, which builds them in order: a
        provider's constructor may already hold the in-process client over this registry)."""
        if provider.service in self._providers:
            raise ValueError(f"{provider.service} is served twice")
        self._providers[provider.service] = provider

    def get(self, service: str) -> ServiceProvider | None:
        return self._providers.get(service)

    def __iter__(self) -> Iterator[ServiceProvider]:
        return iter(self._providers.values())

    def operation(self, service: str, name: str) -> Operation:
        """The table entry serving `service`.`name`; NotImplemented (501) otherwise."""
        provider = self._providers.get(service)
        if provider is None:
            raise not_implemented(service, name)
        return provider.operation(name)

    def authorize(self, ctx: RequestContext, params: dict[str, Any]) -> Operation:
        """The table entry of `ctx.operation` once the `Authorizer` let `ctx.principal` call it
        with `params`; NotImplemented (501) when it is not served, the service's access-denied
        error when refused. (On every request: kept to two lookups and one call.)"""
        provider = self._providers.get(ctx.service)
        op = provider.table.get(ctx.operation) if provider is not None else None
        if op is None:
            raise not_implemented(ctx.service, ctx.operation)
        self.authorizer.authorize(ctx, op, params)
        return op

    def run(self, op: Operation, ctx: RequestContext, params: dict[str, Any]) -> Awaitable[dict[str, Any]]:
        """Run an authorized operation (await it): its output dict, or the service's
        `ServiceError`."""
        return self._providers[op.service].run(op, ctx, params)

    async def dispatch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """`authorize`, then `run`."""
        op = self.authorize(ctx, params)
        return await self.run(op, ctx, params)

    def states(self) -> dict[str, str]:
        """Each served service's state for the health endpoint."""
        return {
            name: ("running" if name in self._providers else "not-implemented") for name in SERVED_SERVICES
        }
