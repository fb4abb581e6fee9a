"""The Python execution environment: forked from a zygote, talking to the server over a socketpair.

``start`` forks the EE and waits for its Init phase (the in-sandbox runtime
imports the handler); ``invoke`` sends one event and waits until the
deadline, destroying the EE on timeout or crash. The state machine, sandbox,
logs, ``freeze``/``thaw`` and ``destroy`` live in ``ee_base.py`` (re-exported
here).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import time
import uuid
from typing import Any

from squall.engine.channel import TOO_LARGE, FrameChannel
from squall.engine.ee_base import (
    INIT_TIMEOUT_S,
    MAX_LOG_BYTES,
    SYNC_RESPONSE_LIMIT,
    BaseEnvironment,
    EnvironmentError_,
    EnvState,
    InvocationResult,
    NotDelivered,
    error_doc,
    too_large_doc,
)
from squall.engine.runtime.wire import MAX_FRAME

__all__ = [
    "INIT_TIMEOUT_S",
    "MAX_LOG_BYTES",
    "SYNC_RESPONSE_LIMIT",
    "EnvState",
    "EnvironmentError_",
    "ExecutionEnvironment",
    "InvocationResult",
    "NotDelivered",
]

NO_REASON = "Runtime exited without providing a reason"
# The kernel fails our end with ECONNRESET when the EE's end was closed with bytes unread
# (the event, or part of it: the function never got it), EPIPE when it was closed before we wrote.
# A clean EOF means the EE had read everything sent: the function may have run.
_UNREAD = (errno.ECONNRESET, errno.EPIPE)


class ExecutionEnvironment(BaseEnvironment):
    _chan: FrameChannel | None = None  # per instance once started (see start)
    _deadline_hit = False

    async def start(self) -> bool:
        """Fork the EE and run its Init phase; False (and DEAD, ``init_error`` set) if Init failed."""
        await self._prepare_layers()
        ns = self._prepare_network()
        if ns is not None and ns.runtime_api is not None:
            ns.runtime_api.close()  # the Python runtime talks over its channel, not the Runtime API
            ns.runtime_api = None
        await self._prepare_tmp()
        self._spawn()
        assert self._channel is not None
        self._channel.setblocking(False)
        self._chan = await FrameChannel.connect(self._channel)
        try:
            async with asyncio.timeout(INIT_TIMEOUT_S):
                header, body = await self._chan.read()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            self.init_error = error_doc("Runtime.ExitError", NO_REASON)
            self.destroy()
            return False
        if not header.get("ok"):
            self.init_error = body
            self.destroy()
            return False
        self.init_ms = float(header.get("init_ms", 0.0))
        self._set_state(EnvState.READY)
        return True

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
        chan = self._chan
        assert chan is not None
        request_id = request_id or str(uuid.uuid4())
        header = {
            "request_id": request_id,
            "deadline_ms": int(deadline * 1000),
            "invoked_function_arn": invoked_function_arn,
            "client_context": client_context,
            "identity": identity,
            "trace_id": trace_id,
        }
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        # A deadline timer that aborts the channel is much cheaper than asyncio.timeout per call.
        self._deadline_hit = False
        timer = loop.call_at(loop.time() + max(deadline - time.time(), 0.0), self._on_deadline)
        # The reply's body is dropped as it arrives past the limit, never buffered.
        chan.body_limit = MAX_FRAME if max_response_bytes is None else max_response_bytes
        try:
            try:
                chan.write(header, event)
            except ConnectionError:  # the EE was gone before the event was sent
                raise NotDelivered(self._crashed(request_id, init_ms, started, NO_REASON)) from None
            reply, body = await chan.read()
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            if self._deadline_hit:
                return self._timed_out(request_id, init_ms, started)
            crashed = self._crashed(request_id, init_ms, started, NO_REASON)
            if isinstance(exc, ConnectionError) and exc.errno in _UNREAD:
                raise NotDelivered(crashed) from None
            return crashed
        except BaseException:
            self.destroy()  # cancelled: a cancelled invocation kills its sandbox
            raise
        finally:
            timer.cancel()
        if self._deadline_hit:  # the answer and the deadline met in the same loop iteration
            return self._timed_out(request_id, init_ms, started)
        duration = (time.perf_counter() - started) * 1000
        self._set_state(EnvState.READY)
        ok = bool(reply.get("ok"))
        if TOO_LARGE in reply:
            ok, body = False, too_large_doc(chan.body_limit)
        return InvocationResult(
            request_id,
            ok,
            body,
            self._drain_logs(),
            duration,
            init_ms,
            self.max_memory_mb(),
            log_stream_name=self.log_stream_name,
        )

    def _on_deadline(self) -> None:
        """The invocation ran out of time: abort the channel so its pending read or drain fails."""
        self._deadline_hit = True
        if self._chan is not None:
            self._chan.abort()

    def _close_extra(self) -> None:
        if self._chan is not None:
            with contextlib.suppress(RuntimeError):  # its event loop may be closed already
                self._chan.close()
            self._chan = None
