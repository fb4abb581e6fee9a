"""Helpers for tests that drive services in process (no HTTP): request contexts, and the
server's own composition root over a temporary data directory."""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from squall.compose import Services, build_services
from squall.config import Settings
from squall.services.context import Principal, RequestContext
from squall.services.operations import Operation
from squall.storage import DataDir


def context(
    request_id: str,
    account: str,
    region: str,
    service: str,
    operation: str,
    access_key: str | None = None,
    principal_arn: str | None = None,
    endpoint: str = "http://localhost:4566",
) -> RequestContext:
    """A request's context as the gateway builds it for a signer of `account`."""
    return RequestContext(
        request_id, Principal.signer(account, principal_arn, access_key), region, service, operation, endpoint
    )


@contextmanager
def composed(root: Path, **settings: object) -> Iterator[Services]:
    """Every provider, built by the composition root as `squall up` builds them (no background
    work started: use `squall.lib.tasks.running` with `services.background`)."""
    data = DataDir.open(root / "data")
    services = build_services(Settings(data_dir=root / "data", workers=1, **settings), data)  # type: ignore[arg-type]
    try:
        yield services
    finally:
        services.close()
        data.close()


class RegistryDouble:
    """Stands where the `ServiceRegistry` stands for the in-process client (`Calls`): subclasses
    implement `dispatch(ctx, params)` for the services they play; the client still validates
    every call against the model first."""

    def authorize(self, ctx: RequestContext, params: dict[str, Any]) -> Operation:
        return Operation(ctx.service, ctx.operation, f"{ctx.service}:{ctx.operation}", self.dispatch, True)

    def run(self, op: Operation, ctx: RequestContext, params: dict[str, Any]) -> Awaitable[dict[str, Any]]:
        return self.dispatch(ctx, params)

    async def dispatch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError
