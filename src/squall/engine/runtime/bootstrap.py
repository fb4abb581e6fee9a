"""The in-sandbox Python runtime: a zygote that forks execution environments.

Run by a real interpreter as a script: ``python -I bootstrap.py CONTROL_FD [PATH...]``
(PATHs are appended to sys.path: runtime-provided libraries such as boto3).
The zygote imports json, boto3 and botocore once, reports ``{"ready": ...}``
on the control socket, then serves spawn requests: a JSON header (the EE's
spec) whose first bytes carry two descriptors (SCM_RIGHTS): the EE's channel
socket and the write end of its log pipe; a third, when present, is the EE's
network namespace, which the child joins (``setns``) before anything else. It forks; the child becomes the
execution environment (``run_environment``) and the zygote answers
``{"pid": PID}``. The zygote ignores SIGCHLD so its children are reaped.

The spec holds nothing secret: the zygote's heap is inherited by every EE it
forks later, whatever function or account it serves. The EE's first message
on its own channel is ``{"env": {...}}``: the function's environment
variables and role credentials, which the server queued in that socket
before handing it over; the zygote never reads it, only the EE does.

An execution environment runs the Init phase (import the handler module),
reports ``{"ok": true, "init_ms": ...}`` or ``{"ok": false}`` plus an error
body, and then serves invocations one at a time: header + event body in,
header ``{"ok": bool}`` + result (or error document) out.

A spec with an ``exec`` entry is a custom runtime (``run_exec``): after
entering the sandbox the EE execs the function's ``bootstrap`` in a child
and stays as its supervisor, reporting once how it ended.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.util
import json
import os
import resource
import select
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from squall.engine.runtime import context as _context
    from squall.engine.runtime import namespaces as _namespaces
    from squall.engine.runtime import rootfs as _rootfs
    from squall.engine.runtime import seccomp as _seccomp
    from squall.engine.runtime import wire as _wire
else:

    def _load(name: str) -> ModuleType:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name + ".py")
        spec = importlib.util.spec_from_file_location("_squall_runtime_" + name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module

    _wire = _load("wire")
    _context = _load("context")
    _rootfs = _load("rootfs")
    _namespaces = _load("namespaces")
    _seccomp = _load("seccomp")

PRELOAD = ("json", "boto3", "botocore.session", "botocore.client", "boto3.session")

Handler = Callable[[Any, Any], Any]


class InitFailure(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("errorMessage", ""))
        self.error = error


def _stack(tb: TracebackType | None) -> list[str]:
    return traceback.format_list(traceback.extract_tb(tb))


def error_document(exc: BaseException, skip_frames: int = 1) -> dict[str, Any]:
    """{errorMessage, errorType, stackTrace} as the AWS Python runtime reports an exception."""
    tb = exc.__traceback__
    for _ in range(skip_frames):
        if tb is not None:
            tb = tb.tb_next
    return {"errorMessage": str(exc), "errorType": type(exc).__name__, "stackTrace": _stack(tb)}


def _fault(error_type: str, message: str, stack: list[str] | None = None) -> dict[str, Any]:
    return {"errorMessage": message, "errorType": error_type, "stackTrace": stack or []}


def load_handler(handler: str) -> Handler:
    """Init phase: import the handler's module and find the function, failing as AWS does."""
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as exc:
        raise InitFailure(_fault("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {exc}")) from None
    modname = modname.replace("/", ".")
    try:
        module = importlib.import_module(modname)
    except ImportError as exc:
        raise InitFailure(
            _fault("Runtime.ImportModuleError", f"Unable to import module '{modname}': {exc}")
        ) from None
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise InitFailure(
            _fault("Runtime.UserCodeSyntaxError", f"Syntax error in module '{modname}': {exc}", trace)
        ) from None
    except Exception as exc:
        raise InitFailure(error_document(exc, skip_frames=0)) from None
    func = getattr(module, fname, None)
    if func is None or not callable(func):
        raise InitFailure(
            _fault("Runtime.HandlerNotFound", f"Handler '{fname}' missing on module '{modname}'")
        )
    result: Handler = func
    return result


def _enter_sandbox(spec: dict[str, Any], chan: socket.socket, log_fd: int, net_fd: int | None) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()
    if net_fd is not None:  # the EE's own network namespace, joined while still privileged
        _namespaces.join_network(net_fd)
    pid = str(os.getpid())
    for procs in spec.get("cgroup_procs", []):
        with open(procs, "w") as f:
            f.write(pid)
    for name, value in spec.get("rlimits", {}).items():
        limit = int(value)
        resource.setrlimit(getattr(resource, name), (limit, limit))

    def close_outside() -> None:
        chan.close()
        os.close(log_fd)

    _namespaces.enter(spec, close_outside)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    code_dir = spec["task_root"]
    os.chdir(code_dir)
    sys.path[:0] = [code_dir, *layer_paths(spec)]
    os.environ.clear()
    os.environ.update(spec["env"])
    time.tzset()
    if spec.get("seccomp"):
        _seccomp.install()


def layer_paths(spec: dict[str, Any]) -> list[str]:
    """sys.path entries for the layers, as the AWS Python runtimes add them (after the task root)."""
    roots = ["/opt"] if "mount" in spec.get("namespaces", ()) else list(reversed(spec.get("layer_dirs", ())))
    site = f"python/lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages"
    return [p for root in roots for p in (f"{root}/{site}", f"{root}/python")]


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def _invoke(
    handler: Handler, spec: dict[str, Any], header: dict[str, Any], body: bytes
) -> tuple[bool, bytes]:
    request_id = header["request_id"]
    ctx = _context.LambdaContext(
        aws_request_id=request_id,
        deadline_ms=int(header["deadline_ms"]),
        invoked_function_arn=header.get("invoked_function_arn") or spec["function_arn"],
        function_name=spec["env"]["AWS_LAMBDA_FUNCTION_NAME"],
        function_version=spec["env"]["AWS_LAMBDA_FUNCTION_VERSION"],
        memory_limit_in_mb=spec["env"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"],
        log_group_name=spec["env"]["AWS_LAMBDA_LOG_GROUP_NAME"],
        log_stream_name=spec["env"]["AWS_LAMBDA_LOG_STREAM_NAME"],
        identity=header.get("identity"),
        client_context=header.get("client_context"),
    )
    trace_id = header.get("trace_id")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    try:
        result = handler(json.loads(body) if body else None, ctx)
    except Exception as exc:
        doc = error_document(exc)
        doc["requestId"] = request_id
        return False, json.dumps(doc).encode()
    try:
        return True, json.dumps(result).encode()
    except (TypeError, ValueError, OverflowError) as exc:
        doc = _fault("Runtime.MarshalError", f"Unable to marshal response: {exc}")
        doc["requestId"] = request_id
        return False, json.dumps(doc).encode()


def _exit_reason(status: int) -> str:
    """How the Lambda service words a runtime process's end (Go's ProcessState)."""
    if os.WIFSIGNALED(status):
        name = signal.strsignal(os.WTERMSIG(status)) or f"signal {os.WTERMSIG(status)}"
        return f"Runtime exited with error: signal: {name[:1].lower()}{name[1:]}"
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return "Runtime exited without providing a reason"
    return f"Runtime exited with error: exit status {code}"


def _entrypoint_error(message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": "Runtime.InvalidEntrypoint"}).encode()


def run_exec(spec: dict[str, Any], chan: socket.socket) -> None:
    """A custom runtime (already in its sandbox): exec its ``bootstrap`` in a child and supervise it.

    ``spec["exec"]``: ``env`` (added to the environment, e.g. AWS_LAMBDA_RUNTIME_API)
    and ``opt`` (true when /opt holds the function's layers: /opt/bootstrap is then
    the fallback, as on Lambda).

    Reports on the channel once: ``{"ok": false}`` + an error document when
    no bootstrap can be run, else ``{"exited": reason}`` when it ends. As the
    pid namespace's init (where there is one) it also reaps orphans.
    """
    candidates = [os.path.join(spec["task_root"], "bootstrap")]
    if spec["exec"].get("opt"):  # only where the function's layers are what /opt holds
        candidates.append("/opt/bootstrap")
    path = next((c for c in candidates if os.path.isfile(c)), None)
    if path is None:
        msg = "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"
        _wire.send_message(chan, {"ok": False}, _entrypoint_error(msg))
        return
    os.environ.update(spec["exec"]["env"])
    _flush()
    pid = os.fork()
    if pid == 0:
        for sig in (signal.SIGPIPE, signal.SIGXFSZ):  # Python ignores these; exec keeps ignored signals
            signal.signal(sig, signal.SIG_DFL)
        try:
            os.execve(path, [path], dict(os.environ))  # the channel is close-on-exec
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            _wire.send_message(chan, {"ok": False}, _entrypoint_error(f"fork/exec {path}: {reason}"))
        os._exit(127)
    status = _supervise(pid, chan)
    if status is None:  # the server let go of this EE: take everything it started down with it
        os.killpg(0, signal.SIGKILL)
        return
    with contextlib.suppress(OSError):
        _wire.send_message(chan, {"exited": _exit_reason(status)}, b"")


def _supervise(pid: int, chan: socket.socket) -> int | None:
    """Reap children (orphans too, as a pid namespace's init) until ``pid`` ends: its wait status.

    None when the channel closes first (the server destroyed or dropped the EE).
    """
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda _sig, _frame: None)
    while True:
        while True:
            try:
                done, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return 0
            if done == 0:
                break
            if done == pid:
                return status
        readable, _, _ = select.select([chan.fileno(), wake_r], [], [])
        if wake_r in readable:
            os.read(wake_r, 512)
        if chan.fileno() in readable and not chan.recv(4096):
            return None


def run_environment(
    spec: dict[str, Any], chan: socket.socket, log_fd: int, net_fd: int | None = None
) -> None:
    """The forked child: enter the sandbox, Init, then serve invocations until the channel closes."""
    started = time.perf_counter()
    try:
        spec["env"] = _wire.recv_header(chan)["env"]
    except _wire.ChannelClosed:
        return
    _enter_sandbox(spec, chan, log_fd, net_fd)
    if "exec" in spec:
        run_exec(spec, chan)
        return
    try:
        handler = load_handler(spec["handler"])
    except InitFailure as failure:
        _flush()
        _wire.send_message(chan, {"ok": False}, json.dumps(failure.error).encode())
        return
    init_ms = (time.perf_counter() - started) * 1000.0
    _flush()
    _wire.send_message(chan, {"ok": True, "init_ms": init_ms}, b"")
    while True:
        try:
            header = _wire.recv_header(chan)
            body = _wire.recv_frame(chan)
        except _wire.ChannelClosed:
            return
        ok, payload = _invoke(handler, spec, header, body)
        _flush()
        _wire.send_message(chan, {"ok": ok}, payload)


def _recv_spawn(ctl: socket.socket) -> tuple[dict[str, Any], list[int]] | None:
    prefix = b""
    fds: list[int] = []
    while len(prefix) < 4:
        data, got, _flags, _addr = socket.recv_fds(ctl, 4 - len(prefix), 3)
        if not data:
            return None
        prefix += data
        fds.extend(got)
    rest = b""
    n = _wire.unpack_length(prefix)
    while len(rest) < n:
        chunk = ctl.recv(n - len(rest))
        if not chunk:
            return None
        rest += chunk
    spec: dict[str, Any] = json.loads(rest)
    return spec, fds


def _close_inherited(keep: list[int]) -> None:
    """Close every descriptor the zygote held except ``keep`` (in the forked child).

    O_CLOEXEC does not help across a fork: without this, the EE would inherit e.g. the
    zygote's handle on the host's pid namespace (``PidNamespaceForChild``)."""
    low = 0
    for fd in sorted(set(keep)):
        if fd > low:
            os.closerange(low, fd)
        low = max(low, fd + 1)
    os.closerange(low, _fd_limit())


def _fd_limit() -> int:
    try:
        return max(int(name) for name in os.listdir("/proc/self/fd")) + 1
    except (OSError, ValueError):
        return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _preload() -> list[str]:
    loaded = []
    for name in PRELOAD:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except ImportError:
            pass
    return loaded


def zygote(ctl: socket.socket) -> None:
    """Serve spawn requests until the control socket closes."""
    loaded = _preload()
    pidns = _namespaces.PidNamespaceForChild()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    _wire.send_message(ctl, {"ready": True, "preloaded": loaded, "python": sys.version.split()[0]})
    while True:
        request = _recv_spawn(ctl)
        if request is None:
            return
        spec, fds = request
        if len(fds) not in (2, 3):
            for fd in fds:
                os.close(fd)
            _wire.send_message(ctl, {"error": "spawn needs a channel and a log descriptor"})
            continue
        chan_fd, log_fd, net_fd = fds[0], fds[1], (fds[2] if len(fds) == 3 else None)
        if "mount" in spec.get("namespaces", ()):
            _rootfs.runtime_paths()  # computed here once (again only if modules were added), inherited
        # Move every object made so far to the permanent generation: the child's garbage
        # collections then never write to their headers, so the pages stay shared with us.
        gc.freeze()
        newpid = "pid" in spec.get("namespaces", ()) and pidns.before_fork()
        me = os.getpid()
        try:
            pid = os.fork()
        except BaseException:
            if newpid:
                pidns.after_fork()
            raise
        if pid != 0 and newpid:
            pidns.after_fork()
        if pid == 0:
            code = 0
            try:
                # The zygote exits when the server dies: so do its EEs. (As pid 1 of a new pid
                # namespace the child sees no parent pid: nothing to compare.)
                _namespaces.die_with_parent(None if newpid else me)
                ctl.close()
                _close_inherited([0, 1, 2, *fds])
                run_environment(spec, socket.socket(fileno=chan_fd), log_fd, net_fd)
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                _flush()
                os._exit(code)
        os.close(chan_fd)
        os.close(log_fd)
        if net_fd is not None:
            os.close(net_fd)
        _wire.send_message(ctl, {"pid": pid})


def main(argv: list[str]) -> int:
    ctl = socket.socket(fileno=int(argv[1]))
    sys.path.extend(argv[2:])  # runtime-provided libraries (the SDK), after the interpreter's own
    zygote(ctl)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
