"""The one interface every kind of execution environment offers.

`Environment` is what the pools, the provisioned pool and the service type
against: the Python EE (`environment.ExecutionEnvironment`) and the
custom-runtime EE (`provided.ProvidedEnvironment`) both satisfy it through
`ee_base.BaseEnvironment`. Which kind runs a function is decided once, by
`kind_for(runtime)`, when an EE is made (`zygotes.Zygotes.environment`);
nothing dispatches on the kind afterwards.

Contract: `start()` runs Init (False, with `init_error` set and the EE DEAD,
when it failed); `invoke` runs one invocation at a time and leaves the EE
READY (healthy) or DEAD (timeout, crash, out of memory); `freeze()` stops a
READY EE until its next `invoke` thaws it; `destroy()` is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from squall.engine.ee_base import EnvState, InvocationResult
from squall.engine.environment import ExecutionEnvironment
from squall.engine.provided import ProvidedEnvironment

#: Runtimes served by a custom-runtime EE (the function's own `bootstrap`).
PROVIDED_RUNTIMES = frozenset({"provided.al2023", "provided.al2"})


class Environment(Protocol):
    """An execution environment (see the module docstring)."""

    id: str
    state: EnvState
    pid: int | None
    init_ms: float | None
    init_error: bytes | None
    log_stream_name: str

    async def start(self) -> bool: ...

    async def invoke(
        self,
        event: bytes,
        deadline: float,
        *,
        request_id: str | None = ...,
        invoked_function_arn: str | None = ...,
        client_context: dict[str, Any] | None = ...,
        identity: dict[str, Any] | None = ...,
        trace_id: str | None = ...,
        max_response_bytes: int | None = ...,
    ) -> InvocationResult: ...

    def init_error_for(self, request_id: str) -> bytes: ...

    def take_logs(self) -> bytes: ...

    def freeze(self) -> None: ...

    def orphaned(self) -> bool: ...

    def destroy(self) -> None: ...


def kind_for(runtime: str) -> Callable[..., Environment]:
    """The EE class that runs `runtime`."""
    return ProvidedEnvironment if runtime in PROVIDED_RUNTIMES else ExecutionEnvironment
