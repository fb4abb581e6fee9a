"""The set of providers a server runs, by botocore service name."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from squall.protocol.models import SERVED_SERVICES
from squall.services.base import ServiceProvider


class ServiceRegistry:
    def __init__(self, providers: Iterable[ServiceProvider]) -> None:
        self._providers = {p.service: p for p in providers}

    def get(self, service: str) -> ServiceProvider | None:
        return self._providers.get(service)

    def __iter__(self) -> Iterator[ServiceProvider]:
        return iter(self._providers.values())

    def states(self) -> dict[str, str]:
        """Each served service's state for the health endpoint."""
        return {
            name: ("running" if name in self._providers else "not-implemented") for name in SERVED_SERVICES
        }
