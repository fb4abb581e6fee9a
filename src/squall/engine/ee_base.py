"""What every kind of execution environment shares: the state machine, the sandbox, logs and results.

State machine (``EnvState``); ``_set_state`` is the only place that changes it::

    STARTING -> INITIALISING -> READY <-> BUSY
                      |           |  \\-> FROZEN -> READY (thaw)
                      v           v
                     DEAD <-------+   (init failure, crash, timeout, destroy)

``BaseEnvironment`` owns the EE's cgroup, its process (forked by a zygote
from a spawn spec), the log pipe it reads continuously, freezing and
destroying. Subclasses (the Python EE in ``environment.py``, the custom
runtime EE in ``provided.py``) add ``start`` and ``invoke``.
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
from squall.engine.dns_relay import DnsRelay
from squall.engine.endpoint_proxy import EndpointProxy
from squall.engine.host import CgroupSupport
from squall.engine.netns import Namespace, SpareNamespaces, inside_endpoint
from squall.engine.runtime import wire
from squall.engine.sandbox import Cgroup, rlimits_for
from squall.engine.scratch import Scratch, ScratchPool, ScratchUnavailable
from squall.engine.spare_cgroups import spares_for
from squall.engine.spec import FunctionConfig, environment_variables, new_log_stream_name, spawn_spec
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


class NotDelivered(Exception):
    """The EE was dead before its function took the event (e.g. its zygote was killed).

    Raised by ``invoke`` (the EE is destroyed): the invocation never reached a live
    function, so the caller may run it on another EE. ``result`` is what to report if
    it does not (a ``Runtime.ExitError``, as for a crash).
    """

    def __init__(self, result: InvocationResult) -> None:
        super().__init__(f"invocation {result.request_id} never reached a live function")
        self.result = result


@dataclass(frozen=True)
class InvocationResult:
    request_id: str
    ok: bool
    payload: bytes  # the result JSON, or the error document when not ok
    logs: bytes
    duration_ms: float
    init_ms: float | None = None  # set on the invocation that paid the cold start
    max_memory_mb: int | None = None  # peak resident memory of the EE so far, where measurable
    init_type: str = "on-demand"  # or "provisioned-concurrency": the kind of EE that served it
    spillover: bool = False  # served on demand although the version has provisioned EEs (all busy)
    log_stream_name: str | None = None  # the EE's CloudWatch Logs stream, YYYY/MM/DD/[VERSION]ID

    @property
    def function_error(self) -> str | None:
        return None if self.ok else "Unhandled"


def error_doc(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


def timeout_doc(request_id: str, timeout_s: float) -> bytes:
    msg = f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds"
    return error_doc("Sandbox.Timedout", msg)


def too_large_doc(limit: int) -> bytes:
    return error_doc(
        "Function.ResponseSizeTooLarge",
        f"Response payload size exceeded maximum allowed payload size ({limit} bytes).",
    )


class BaseEnvironment:
    def __init__(
        self,
        config: FunctionConfig,
        zygote: Zygote,
        cgroups: CgroupSupport | None = None,
        namespaces: frozenset[str] = frozenset(),
        *,
        seccomp: bool = False,
        overlay: bool = True,
        network: SpareNamespaces | None = None,
        etc_dir: str | None = None,
        scratch: ScratchPool | None = None,
    ) -> None:
        self.config = config
        self._seccomp = seccomp
        self._overlay = overlay
        self._etc_dir = etc_dir  # the image /etc (image_etc.build_etc) bound at /etc in a private root
        self._scratch_pool = scratch if "mount" in namespaces else None
        self._scratch: Scratch | None = None  # the disk-backed /tmp (scratch.py), once taken
        self.id = uuid.uuid4().hex
        self.log_stream_name = new_log_stream_name(config.version)
        self.state = EnvState.STARTING
        self.pid: int | None = None
        self.init_ms: float | None = None
        self.init_error: bytes | None = None
        self._zygote = zygote
        self._namespaces = namespaces
        self._spares = spares_for(cgroups) if cgroups and cgroups.version and cgroups.writable else None
        self._cgroup = self._spares.take(f"ee-{os.getpid()}-{self.id}") if self._spares is not None else None
        self._channel: socket.socket | None = None
        self._log_fd: int | None = None
        self._log_buf = bytearray()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cold = True
        self._network = network
        self._netns: Namespace | None = None
        self._proxy: EndpointProxy | None = None
        self._dns: DnsRelay | None = None

    def _set_state(self, new: EnvState) -> None:
        if new not in _ALLOWED[self.state]:
            raise EnvironmentError_(f"EE {self.id}: {self.state.value} -> {new.value} is not allowed")
        self.state = new

    @property
    def cgroup(self) -> Cgroup | None:
        return self._cgroup

    async def _prepare_layers(self) -> None:
        """Several layers and no overlayfs here: /opt is their merged copy (made once per layer set)."""
        if len(self.config.layer_dirs) > 1 and not self._overlay:
            merged = await asyncio.to_thread(merged_layers, self.config.layer_dirs)
            self.config = dataclasses.replace(self.config, layer_dirs=(merged,))

    def _prepare_network(self) -> Namespace | None:
        """This EE's own network namespace (a spare) with the Squall endpoint served inside; None
        where EEs share the host's network. The caller uses or closes its Runtime API listener."""
        if self._network is None:
            return None
        plan = self._network.plan
        self._netns = ns = self._network.take()
        try:
            self._proxy = EndpointProxy(ns.endpoint, plan.upstream_host, plan.port)
            self._proxy.start()
            if ns.dns:
                self._dns = DnsRelay(ns.dns)
                self._dns.start()
        except BaseException:
            self._release()
            self._set_state(EnvState.DEAD)
            raise
        if self.config.endpoint_url:
            url = inside_endpoint(self.config.endpoint_url, plan.port)
            if url != self.config.endpoint_url:
                self.config = dataclasses.replace(self.config, endpoint_url=url)
        return ns

    async def _prepare_tmp(self) -> None:
        """A disk-backed /tmp of EphemeralStorage's size (a spare, else made now off the loop);
        none to be had: a tmpfs as before (charged to the EE's memory)."""
        pool = self._scratch_pool
        if pool is None:
            return
        size = self.config.ephemeral_mb
        self._scratch = pool.take(size)
        if self._scratch is None:
            with contextlib.suppress(ScratchUnavailable):
                self._scratch = await asyncio.to_thread(pool.make, size)

    def _spawn(self, extra: dict[str, Any] | None = None) -> None:
        """Create the cgroup and fork the EE (its spec plus ``extra``); INITIALISING after. DEAD on error.

        The zygote only sees the spec (nothing secret); the environment (variables, role
        credentials) is the first message on the EE's own channel, queued in the kernel
        before the zygote passes the descriptor on (see ``Zygote.spawn``).
        """
        try:
            if self._cgroup is not None:
                self._cgroup.create(self.config.limits)
            procs = self._cgroup.procs_files if self._cgroup else []
            rlimits = rlimits_for(self.config.limits, bool(procs))
            spec = spawn_spec(
                self.config,
                self.log_stream_name,
                procs,
                rlimits,
                self._namespaces,
                self._seccomp,
                self._etc_dir,
                str(self._scratch.mount) if self._scratch is not None else None,
            )
            spec.update(extra or {})
            env = environment_variables(self.config, self.log_stream_name, spec["task_root"])
            spawned = self._zygote.spawn(
                spec,
                wire.pack_message({"env": env}),
                self._netns.fd if self._netns is not None else None,
            )
        except BaseException:
            self._release()
            self._set_state(EnvState.DEAD)
            raise
        self.pid, self._channel, self._log_fd = spawned.pid, spawned.channel, spawned.log_fd
        # Read the log pipe continuously so a chatty function never blocks on a full pipe.
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._log_fd, self._read_logs)
        self._set_state(EnvState.INITIALISING)

    def init_error_for(self, request_id: str) -> bytes:
        """The Init failure as reported to the invocation that met it."""
        return self.init_error or b"{}"

    def _begin_invoke(self) -> float | None:
        """READY (thawing if frozen) -> BUSY; the Init duration if this invocation is the cold one."""
        if self.state is EnvState.FROZEN:
            self.thaw()
        if self.state is not EnvState.READY:
            raise EnvironmentError_(f"EE {self.id} is {self.state.value}, not ready")
        self._set_state(EnvState.BUSY)
        init_ms = self.init_ms if self._cold else None
        self._cold = False
        return init_ms

    def _crashed(
        self, request_id: str, init_ms: float | None, started: float, exit_reason: str
    ) -> InvocationResult:
        """The EE died mid-invocation: destroy it and report Runtime.ExitError (or OutOfMemory)."""
        logs = self._drain_logs()
        oom = self._cgroup is not None and self._cgroup.oom_killed()
        self.destroy()
        if oom:
            error_type, exit_reason = "Runtime.OutOfMemory", "Runtime exited with error: signal: killed"
        else:
            error_type = "Runtime.ExitError"
        doc = error_doc(error_type, f"RequestId: {request_id} Error: {exit_reason}")
        return InvocationResult(
            request_id,
            False,
            doc,
            logs,
            (time.perf_counter() - started) * 1000,
            init_ms,
            log_stream_name=self.log_stream_name,
        )

    def _timed_out(self, request_id: str, init_ms: float | None, started: float) -> InvocationResult:
        logs = self._drain_logs()
        self.destroy()
        doc = timeout_doc(request_id, self.config.timeout_s)
        return InvocationResult(
            request_id,
            False,
            doc,
            logs,
            (time.perf_counter() - started) * 1000,
            init_ms,
            log_stream_name=self.log_stream_name,
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

    def orphaned(self) -> bool:
        """Its zygote is gone: the EE died with it (or is dying), whatever its state says."""
        return not self._zygote.alive()

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
        if (
            self.state is EnvState.DEAD
            and self._channel is None
            and self._cgroup is None
            and self._netns is None
        ):
            return
        self._set_state(EnvState.DEAD)
        if self._cgroup is not None:
            self._cgroup.kill_all()
        elif self.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        self._release()

    def _close_extra(self) -> None:
        """Release what a subclass holds besides the channel (streams, servers)."""

    def _release(self) -> None:
        self._close_extra()
        if self._proxy is not None:
            self._proxy.close()
            self._proxy = None
        if self._dns is not None:
            self._dns.close()
            self._dns = None
        if self._netns is not None and self._network is not None:
            # reused once the EE's pid namespace is gone (nothing of it is left in the namespace)
            reuse = "pid" in self._namespaces and self.pid is not None
            self._network.give_back(self._netns, self.pid if reuse else None)
            self._netns = None
        if self._scratch is not None and self._scratch_pool is not None:
            # reused once the EE's pid namespace is gone (nothing of it can write there any more)
            reuse = "pid" in self._namespaces and self.pid is not None
            self._scratch_pool.give_back(self._scratch, self.pid if reuse else None)
            self._scratch = None
        if self._channel is not None:
            self._channel.close()
        self._channel = None
        self._stop_reading_logs()
        if self._log_fd is not None:
            os.close(self._log_fd)
            self._log_fd = None
        if self._cgroup is not None:
            if self._spares is not None:
                self._spares.discard(self._cgroup)  # removal retried off the event loop if busy
            else:
                self._cgroup.remove()
            self._cgroup = None
