"""One pre-initialised Python process per interpreter, forked to make execution environments.

``Zygote.start(interpreter)`` runs ``runtime/bootstrap.py`` under the real
interpreter binary (never a pyenv shim) with a control socket; the zygote
imports boto3/botocore once and reports ready. ``spawn(spec)`` hands it a
fresh socketpair end and a log pipe's write end (and, where EEs get one, the
fd of the EE's network namespace); it forks and returns the
new EE's pid. A spec carries nothing secret (the zygote's heap is every later
EE's): the EE's environment is ``first``, written into the EE's own channel
before the zygote gets the descriptor. It waits in the kernel's socket
buffer, never in the zygote's memory (the zygote passes the descriptor on
unread), and the EE reads it first thing after the fork, without a round
trip. Spawns are serialised by a lock (each is a sub-millisecond round trip
on a local socket).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from squall.engine.host import Interpreter
from squall.engine.runtime import wire

BOOTSTRAP = Path(__file__).parent / "runtime" / "bootstrap.py"


class ZygoteError(Exception):
    """The zygote could not start, or died, or refused a spawn."""


@dataclass
class Spawned:
    pid: int
    channel: socket.socket  # the server's end of the EE's socketpair
    log_fd: int  # read end of the EE's stdout/stderr pipe (non-blocking)


class Zygote:
    def __init__(
        self,
        interpreter: Interpreter,
        process: subprocess.Popen[bytes],
        ctl: socket.socket,
        preloaded: list[str],
    ) -> None:
        self.interpreter = interpreter
        self.process = process
        self.preloaded = preloaded
        self._ctl = ctl
        self._lock = threading.Lock()
        self.died = False  # seen dead by ``watch``

    @classmethod
    def start(
        cls, interpreter: Interpreter, extra_paths: tuple[str, ...] = (), timeout: float = 30.0
    ) -> Zygote:
        """Start a zygote; ``extra_paths`` are appended to its sys.path (e.g. a runtime-provided boto3)."""
        if "shims" in Path(interpreter.path).parts:
            raise ZygoteError(f"{interpreter.path} is a shim, not an interpreter")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        args = [interpreter.path, "-I", str(BOOTSTRAP), str(theirs.fileno()), *extra_paths]
        process = subprocess.Popen(
            args, pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL, start_new_session=True
        )
        theirs.close()
        ours.settimeout(timeout)
        try:
            ready = wire.recv_header(ours)
        except (wire.ChannelClosed, OSError) as exc:
            process.kill()
            process.wait()
            ours.close()
            raise ZygoteError(f"zygote for {interpreter.path} did not start: {exc!r}") from exc
        ours.settimeout(None)
        return cls(interpreter, process, ours, list(ready.get("preloaded", [])))

    def spawn(self, spec: dict[str, Any], first: bytes = b"", netns_fd: int | None = None) -> Spawned:
        """Fork a new execution environment from this zygote; it starts its Init phase at once.

        ``first`` (the EE's environment) is queued on the EE's channel before the fork. With
        ``netns_fd`` (a third descriptor) the EE joins that network namespace first."""
        server_end, ee_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        log_r, log_w = os.pipe()
        try:
            if first:  # a few KB into an empty socket buffer: never blocks
                server_end.sendall(first)
            with self._lock:
                fds = [ee_end.fileno(), log_w] + ([netns_fd] if netns_fd is not None else [])
                socket.send_fds(self._ctl, [wire.pack_message(spec)], fds)
                reply = wire.recv_header(self._ctl)
        except (wire.ChannelClosed, OSError) as exc:
            server_end.close()
            os.close(log_r)
            raise ZygoteError(f"zygote {self.process.pid} is gone: {exc!r}") from exc
        finally:
            ee_end.close()
            os.close(log_w)
        if "pid" not in reply:
            server_end.close()
            os.close(log_r)
            raise ZygoteError(str(reply.get("error", reply)))
        os.set_blocking(log_r, False)
        return Spawned(int(reply["pid"]), server_end, log_r)

    def alive(self) -> bool:
        return not self.died and self.process.poll() is None

    def watch(self, loop: asyncio.AbstractEventLoop, on_death: Callable[[Zygote], None]) -> None:
        """Call ``on_death(self)`` on ``loop`` as soon as the zygote exits (a pidfd becomes readable)."""
        try:
            pidfd = os.pidfd_open(self.process.pid)
        except OSError:  # no pidfds here (before Linux 5.3): deaths are found on use instead
            return

        def died() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            self.died = True
            on_death(self)

        loop.add_reader(pidfd, died)

    def stop(self) -> None:
        self._ctl.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
