"""The server's lifespan: background components started when the HTTP server starts, stopped
when it stops (ASGI lifespan protocol), through one `Supervisor`.

The composition root (compose.py) declares the components and their order; this module only runs
them. A component that fails before it is started fails the start-up (uvicorn then exits).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from squall.lib.tasks import Background, Supervisor

log = logging.getLogger("squall")

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Lifespan:
    """An ASGI lifespan handler (`Gateway(lifespan=...)`) owning `components` (name, component)."""

    def __init__(self, components: Sequence[tuple[str, Background]]) -> None:
        self.components = list(components)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        async with Supervisor() as supervisor:
            try:
                for name, component in self.components:
                    await supervisor.start(component, name)
            except Exception as exc:
                log.exception("start-up failed")
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
            while (await receive())["type"] != "lifespan.shutdown":
                pass
        await send({"type": "lifespan.shutdown.complete"})
