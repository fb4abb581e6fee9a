"""An execution environment (EE): one sandboxed process serving one invocation at a time.

State machine (``EnvState``); ``_set_state`` is the only place that changes it::

    STARTING -> INITIALISING -> READY <-> BUSY
                      |           |  \\-> FROZEN -> READY (thaw)
                      v           v
                     DEAD <-------+   (init failure, crash, timeout, destroy)

``start`` forks the EE from a zygote and waits for its Init phase; ``invoke``
sends one event and waits until the deadline, destroying the EE on timeout
or crash; ``freeze``/``thaw`` stop and resume it (cgroup freezer, else
SIGSTOP/SIGCONT on its process group); ``destroy`` kills every process it
made (its cgroup, else its process group) and releases its resources.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import json
import os
import signal
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from squall.engine.codecache import merged_layers
from squall.engine.host import CgroupSupport
from squall.engine.runtime import wire
from squall.engine.sandbox import Cgroup, rlimits_for
from squall.engine.spec import FunctionConfig, new_log_stream_name, spawn_spec
from squall.engine.zygote import Zygote


class EnvState(enum.Enum):
    STARTING = "starting"
    INITIALISING = "initialising"
    READY = "ready"
    BUSY = "busy"
    FROZEN = "frozen"
    DEAD = "dead"


_ALLOWED: dict[EnvState, frozenset[EnvState]] = {
    EnvState.STARTING: frozenset({EnvState.INITIALISING, EnvState.DEAD}),
    EnvState.INITIALISING: frozenset({EnvState.READY, EnvState.DEAD}),
    EnvState.READY: frozenset({EnvState.BUSY, EnvState.FROZEN, EnvState.DEAD}),
    EnvState.BUSY: frozenset({EnvState.READY, EnvState.DEAD}),
    EnvState.FROZEN: frozenset({EnvState.READY, EnvState.DEAD}),
    EnvState.DEAD: frozenset({EnvState.DEAD}),
}

INIT_TIMEOUT_S = 10.0
SYNC_RESPONSE_LIMIT = 6_291_556  # bytes, as AWS counts the 6 MB synchronous response limit
MAX_LOG_BYTES = 4 * 1024 * 1024  # per invocation; older output is dropped first


class EnvironmentError_(Exception):
    """An operation was asked of an EE in a state that does not allow it."""


@dataclass(frozen=True)
class InvocationResult:
    request_id: str
    ok: bool
    payload: bytes  # the result JSON, or the error document when not ok
    logs: bytes
    duration_ms: float
    init_ms: float | None = None  # set on the invocation that paid the cold start
    max_memory_mb: int | None = None  # peak resident memory of the EE so far, where measurable

    @property
    def function_error(self) -> str | None:
        return None if self.ok else "Unhandled"


def _error_doc(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


class ExecutionEnvironment:
    def __init__(
        self,
        config: FunctionConfig,
        zygote: Zygote,
        cgroups: CgroupSupport | None = None,
        namespaces: frozenset[str] = frozenset(),
        *,
        seccomp: bool = False,
        overlay: bool = True,
    ) -> None:
        self.config = config
        self._seccomp = seccomp
        self._overlay = overlay
        self.id = uuid.uuid4().hex
        self.log_stream_name = new_log_stream_name(config.version)
        self.state = EnvState.STARTING
        self.pid: int | None = None
        self.init_ms: float | None = None
        self.init_error: bytes | None = None
        self._zygote = zygote
        self._namespaces = namespaces
        self._cgroup = Cgroup(cgroups, self.id) if cgroups and cgroups.version and cgroups.writable else None
        self._channel: socket.socket | None = None
        self._log_fd: int | None = None
        self._log_buf = bytearray()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._cold = True

    def _set_state(self, new: EnvState) -> None:
        if new not in _ALLOWED[self.state]:
            raise EnvironmentError_(f"EE {self.id}: {self.state.value} -> {new.value} is not allowed")
        self.state = new

    @property
    def cgroup(self) -> Cgroup | None:
        return self._cgroup

    async def start(self) -> bool:
        """Fork the EE and run its Init phase; False (and DEAD, ``init_error`` set) if Init failed."""
        try:
            if self._cgroup is not None:
                self._cgroup.create(self.config.limits)
            if len(self.config.layer_dirs) > 1 and not self._overlay:
                merged = await asyncio.to_thread(merged_layers, self.config.layer_dirs)
                self.config = dataclasses.replace(self.config, layer_dirs=(merged,))
            procs = self._cgroup.procs_files if self._cgroup else []
            rlimits = rlimits_for(self.config.limits, bool(procs))
            spec = spawn_spec(
                self.config, self.log_stream_name, procs, rlimits, self._namespaces, self._seccomp
            )
            spawned = self._zygote.spawn(spec)
        except BaseException:
            self._release()
            self._set_state(EnvState.DEAD)
            raise
        self.pid, self._channel, self._log_fd = spawned.pid, spawned.channel, spawned.log_fd
        # Read the log pipe continuously so a chatty function never blocks on a full pipe.
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._log_fd, self._read_logs)
        self._set_state(EnvState.INITIALISING)
        self._channel.setblocking(False)
        self._reader, self._writer = await asyncio.open_unix_connection(sock=self._channel)
        try:
            header, body = await asyncio.wait_for(self._read_message(), INIT_TIMEOUT_S)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            self.init_error = _error_doc("Runtime.ExitError", self._exit_message(None))
            self.destroy()
            return False
        if not header.get("ok"):
            self.init_error = body
            self.destroy()
            return False
        self.init_ms = float(header.get("init_ms", 0.0))
        self._set_state(EnvState.READY)
        return True

    async def _read_message(self) -> tuple[dict[str, Any], bytes]:
        assert self._reader is not None
        n = wire.unpack_length(await self._reader.readexactly(4))
        header: dict[str, Any] = json.loads(await self._reader.readexactly(n))
        m = wire.unpack_length(await self._reader.readexactly(4))
        return header, await self._reader.readexactly(m)

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
        if self.state is EnvState.FROZEN:
            self.thaw()
        if self.state is not EnvState.READY:
            raise EnvironmentError_(f"EE {self.id} is {self.state.value}, not ready")
        self._set_state(EnvState.BUSY)
        assert self._writer is not None
        request_id = request_id or str(uuid.uuid4())
        header = {
            "request_id": request_id,
            "deadline_ms": int(deadline * 1000),
            "invoked_function_arn": invoked_function_arn,
            "client_context": client_context,
            "identity": identity,
            "trace_id": trace_id,
        }
        init_ms = self.init_ms if self._cold else None
        self._cold = False
        started = time.perf_counter()
        try:
            self._writer.write(wire.pack_message(header, event))
            await self._writer.drain()
            reply, body = await asyncio.wait_for(self._read_message(), max(deadline - time.time(), 0.0))
        except TimeoutError:
            logs = self._drain_logs()
            self.destroy()
            msg = f"RequestId: {request_id} Error: Task timed out after {self.config.timeout_s:.2f} seconds"
            return InvocationResult(
                request_id,
                False,
                _error_doc("Sandbox.Timedout", msg),
                logs,
                (time.perf_counter() - started) * 1000,
                init_ms,
            )
        except (asyncio.IncompleteReadError, ConnectionError):
            logs = self._drain_logs()
            oom = self._cgroup is not None and self._cgroup.oom_killed()
            self.destroy()
            error_type = "Runtime.OutOfMemory" if oom else "Runtime.ExitError"
            doc = _error_doc(error_type, f"RequestId: {request_id} Error: {self._exit_message(oom)}")
            return InvocationResult(
                request_id, False, doc, logs, (time.perf_counter() - started) * 1000, init_ms
            )
        except BaseException:
            self.destroy()  # cancelled: a cancelled invocation kills its sandbox
            raise
        duration = (time.perf_counter() - started) * 1000
        self._set_state(EnvState.READY)
        ok = bool(reply.get("ok"))
        if max_response_bytes is not None and len(body) > max_response_bytes:
            ok = False
            body = _error_doc(
                "Function.ResponseSizeTooLarge",
                f"Response payload size exceeded maximum allowed payload size ({max_response_bytes} bytes).",
            )
        return InvocationResult(
            request_id, ok, body, self._drain_logs(), duration, init_ms, self.max_memory_mb()
        )

    def max_memory_mb(self) -> int | None:
        """Peak memory: the cgroup's high-water mark, else the largest VmHWM of the EE's processes."""
        if self._cgroup is not None:
            peak = self._cgroup.max_memory_bytes()
            return None if peak is None else -(-peak // (1024 * 1024))
        if self.pid is None:
            return None
        pids = [str(self.pid)]
        with contextlib.suppress(OSError):  # inside a pid namespace the EE is the waiter's child
            pids += Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        peak_kb = 0
        for pid in pids:
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak_kb = max(peak_kb, int(line.split()[1]))
        return -(-peak_kb // 1024) if peak_kb else None

    @staticmethod
    def _exit_message(oom: bool | None) -> str:
        if oom:
            return "Runtime exited with error: signal: killed"
        return "Runtime exited without providing a reason"

    def _read_logs(self) -> None:
        if self._log_fd is None:
            return
        while True:
            try:
                chunk = os.read(self._log_fd, 65536)
            except BlockingIOError:
                return
            if not chunk:  # every writer is gone
                self._stop_reading_logs()
                return
            self._log_buf += chunk
            if len(self._log_buf) > MAX_LOG_BYTES:
                del self._log_buf[: len(self._log_buf) - MAX_LOG_BYTES]

    def _drain_logs(self) -> bytes:
        """This invocation's output: what the pipe held when the EE answered (it flushes first)."""
        self._read_logs()
        out = bytes(self._log_buf)
        self._log_buf.clear()
        return out

    def take_logs(self) -> bytes:
        """The output not yet handed out (e.g. what a failed Init printed)."""
        return self._drain_logs()

    def _stop_reading_logs(self) -> None:
        if self._loop is not None and self._log_fd is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._log_fd)
        self._loop = None

    def freeze(self) -> None:
        self._set_state(EnvState.FROZEN)
        self._signal_all(frozen=True)

    def thaw(self) -> None:
        self._signal_all(frozen=False)
        self._set_state(EnvState.READY)

    def _signal_all(self, frozen: bool) -> None:
        cg = self._cgroup
        if cg is not None and ("freezer" in cg.dirs or cg.version == 2):
            cg.set_frozen(frozen)
        elif self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGSTOP if frozen else signal.SIGCONT)

    def destroy(self) -> None:
        """Kill every process of this EE and release its channel, log pipe and cgroup. Idempotent."""
        if self.state is EnvState.DEAD and self._channel is None and self._cgroup is None:
            return
        self._set_state(EnvState.DEAD)
        if self._cgroup is not None:
            self._cgroup.kill_all()
        elif self.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        self._release()

    def _release(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(RuntimeError):  # its event loop may be closed already
                self._writer.close()
            self._writer = None
        if self._channel is not None:
            self._channel.close()
        self._channel = None
        self._reader = None
        self._stop_reading_logs()
        if self._log_fd is not None:
            os.close(self._log_fd)
            self._log_fd = None
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None
