"""The custom-runtime execution environment (``provided.al2023``, ``provided.al2``).

Same interface and state machine as the Python EE (``ee_base.py``). A zygote
forks the EE into the usual sandbox, where it execs the function's
``bootstrap`` (``/var/task/bootstrap``, else ``/opt/bootstrap``) with
``AWS_LAMBDA_RUNTIME_API`` pointing at this EE's ``RuntimeApi``; the forked
process stays as the bootstrap's supervisor and reports on the channel how
it ended. Init lasts until the bootstrap's first ``/next``; an invocation
ends with its ``/response`` or ``/error``, the bootstrap's exit
(``Runtime.ExitError``) or the deadline (the EE is destroyed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import Any

from squall.engine.ee_base import (
    INIT_TIMEOUT_S,
    SYNC_RESPONSE_LIMIT,
    BaseEnvironment,
    EnvState,
    InvocationResult,
    NotDelivered,
    error_doc,
)
from squall.engine.runtime import wire
from squall.engine.runtime_api import Invocation, Outcome, RuntimeApi

NO_REASON = "Runtime exited without providing a reason"


class ProvidedEnvironment(BaseEnvironment):
    _api: RuntimeApi | None = None  # per instance once started (see start)
    _ended: asyncio.Task[tuple[dict[str, Any], bytes]] | None = None
    _writer: asyncio.StreamWriter | None = None

    async def start(self) -> bool:
        """Exec the bootstrap and wait for its first ``/next``; False (DEAD, ``init_error`` set) if Init failed."""
        await self._prepare_layers()
        ns = self._prepare_network()
        await self._prepare_tmp()
        self._api = RuntimeApi()
        # In the EE's own network namespace: 127.0.0.1:9001, as on AWS; else an ephemeral host port.
        try:
            address = await self._api.start(ns.runtime_api if ns is not None else None)
        except BaseException:
            self.destroy()
            raise
        if ns is not None:
            ns.runtime_api = None  # the API's server owns it now
        started = time.perf_counter()
        try:
            # /opt holds the function's layers only inside a private mount namespace.
            opt = "mount" in self._namespaces
            self._spawn({"exec": {"env": {"AWS_LAMBDA_RUNTIME_API": address}, "opt": opt}})
        except BaseException:
            self._api.close()
            raise
        assert self._channel is not None
        self._channel.setblocking(False)
        reader, self._writer = await asyncio.open_unix_connection(sock=self._channel)
        self._ended = asyncio.create_task(self._read_end(reader), name=f"ee-{self.id}-supervisor")
        ready = asyncio.create_task(self._api.first_next.wait())
        try:
            waits: list[asyncio.Future[Any]] = [ready, self._ended, self._api.init_failure]
            await asyncio.wait(
                waits,
                timeout=INIT_TIMEOUT_S,
                return_when=asyncio.FIRST_COMPLETED,
            )
        except BaseException:
            ready.cancel()
            self.destroy()
            raise
        ready.cancel()
        if self._api.first_next.is_set() and not self._ended.done():
            self.init_ms = (time.perf_counter() - started) * 1000
            self._set_state(EnvState.READY)
            return True
        self.init_error = self._init_failure()
        self.destroy()
        return False

    def _init_failure(self) -> bytes:
        assert self._api is not None and self._ended is not None
        if self._api.init_failure.done():
            return self._api.init_failure.result()
        if self._ended.done() and not self._ended.cancelled() and self._ended.exception() is None:
            header, body = self._ended.result()
            if header.get("ok") is False:
                return body  # no bootstrap could be run
            return error_doc("Runtime.ExitError", str(header.get("exited") or NO_REASON))
        return error_doc("Sandbox.Timedout", f"Init phase timed out after {INIT_TIMEOUT_S:.2f} seconds")

    def init_error_for(self, request_id: str) -> bytes:
        """The Init failure as the invocation that met it reports it: "RequestId: ... Error: ..." as AWS words it."""
        doc = self.init_error or b"{}"
        if self._api is not None and self._api.init_failure.done():
            return doc  # the runtime's own document
        with contextlib.suppress(ValueError, AttributeError):
            parsed = json.loads(doc)
            parsed["errorMessage"] = f"RequestId: {request_id} Error: {parsed['errorMessage']}"
            return json.dumps(parsed).encode()
        return doc

    @staticmethod
    async def _read_end(reader: asyncio.StreamReader) -> tuple[dict[str, Any], bytes]:
        """The supervisor's one report: why the bootstrap could not run, or how it exited."""
        try:
            return await wire.read_message(reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            return {"exited": NO_REASON}, b""

    async def invoke(
        self,
        event: bytes,
        deadline: float,
        *,
        request_id: str | None = None,
        invoked_function_arn: str | None = None,
        client_context: dict[str, Any] | None = None,
        identity: dict[str, Any] | None = None,
        trace_id: str | None = None,
        max_response_bytes: int | None = SYNC_RESPONSE_LIMIT,
    ) -> InvocationResult:
        """Run one invocation; ``deadline`` is wall-clock epoch seconds. Kills the EE on timeout or crash."""
        init_ms = self._begin_invoke()
        assert self._api is not None and self._ended is not None
        request_id = request_id or str(uuid.uuid4())
        headers = {
            "Lambda-Runtime-Aws-Request-Id": request_id,
            "Lambda-Runtime-Deadline-Ms": str(int(deadline * 1000)),
            "Lambda-Runtime-Invoked-Function-Arn": invoked_function_arn or self.config.function_arn,
        }
        if trace_id:
            headers["Lambda-Runtime-Trace-Id"] = trace_id
        if client_context is not None:
            headers["Lambda-Runtime-Client-Context"] = json.dumps(client_context)
        if identity is not None:
            headers["Lambda-Runtime-Cognito-Identity"] = json.dumps(identity)
        invocation = Invocation(request_id, event, headers)
        started = time.perf_counter()
        self._api.submit(invocation, max_response_bytes)
        try:
            waits: list[asyncio.Future[Any]] = [invocation.outcome, self._ended]
            await asyncio.wait(
                waits,
                timeout=max(deadline - time.time(), 0.0),
                return_when=asyncio.FIRST_COMPLETED,
            )
        except BaseException:
            self.destroy()  # cancelled: a cancelled invocation kills its sandbox
            raise
        if not invocation.outcome.done():
            if self._ended.done():
                header, _ = self._ended.result()
                handed_out = self._api.handed_out(invocation)
                crashed = self._crashed(request_id, init_ms, started, str(header.get("exited") or NO_REASON))
                if not handed_out:  # the runtime died before its /next took the event
                    raise NotDelivered(crashed)
                return crashed
            return self._timed_out(request_id, init_ms, started)
        outcome: Outcome = invocation.outcome.result()
        duration = (time.perf_counter() - started) * 1000
        self._set_state(EnvState.READY)
        return InvocationResult(
            request_id,
            outcome.ok,
            outcome.body,
            self._drain_logs(),
            duration,
            init_ms,
            self.max_memory_mb(),
            log_stream_name=self.log_stream_name,
        )

    def _close_extra(self) -> None:
        if self._ended is not None and not self._ended.done():
            self._ended.cancel()
        if self._api is not None:
            self._api.close()
        if self._writer is not None:
            with contextlib.suppress(RuntimeError):  # its event loop may be closed already
                self._writer.close()
            self._writer = None
