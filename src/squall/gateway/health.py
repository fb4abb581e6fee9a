"""`GET /_squall/health` (and LocalStack's `/_localstack/health`): served unsigned,
before any AWS routing, for probes and `squall status`.

The answer is JSON: the Squall version, each served service's state
(`ServiceRegistry.states`: "running" or "not-implemented") and the gateway's
uptime. HEAD gets the same status and headers without the body.
"""

from __future__ import annotations

import time

import orjson

from squall import __version__
from squall.protocol.types import HttpResponse
from squall.services.registry import ServiceRegistry

#: The paths answered (GET and HEAD only).
HEALTH_PATHS = frozenset({"/_squall/health", "/_localstack/health"})


class Health:
    """The health endpoint of one gateway; its uptime counts from construction."""

    def __init__(self, services: ServiceRegistry) -> None:
        self.services = services
        self.started_at = time.time()

    def response(self, head_only: bool) -> HttpResponse:
        body = orjson.dumps(
            {
                "version": __version__,
                "edition": "squall",
                "services": self.services.states(),
                "uptime_seconds": round(time.time() - self.started_at, 3),
            }
        )
        return HttpResponse(200, [("content-type", "application/json")], b"" if head_only else body)
