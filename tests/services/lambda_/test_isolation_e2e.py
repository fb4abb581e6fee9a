"""Hostile functions through boto3: what a function can see and do inside its sandbox, and layers at /opt."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from squall.engine.host import discover_interpreters, probe_isolation
from tests.conftest import RunningServer
from tests.services.lambda_.helpers import create, make_zip, unique

pytestmark = [
    pytest.mark.skipif(
        not any(i.version == "3.11" for i in discover_interpreters()), reason="no python3.11 interpreter"
    ),
    pytest.mark.skipif(not probe_isolation().private_root, reason="no private root on this host"),
]

HOSTILE = """
import ctypes, errno, os, signal
libc = ctypes.CDLL(None, use_errno=True)

def outcome(fn):
    try:
        fn()
        return "ok"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))

def call(result):
    return "ok" if result == 0 else errno.errorcode[ctypes.get_errno()]

def peek(path):
    return os.listdir(path) if os.path.isdir(path) else open(path, "rb").read(1)

def write(path):
    with open(path, "w") as f:
        f.write("x")

def handler(event, context):
    marker = "/tmp/marker"
    before = open(marker).read() if os.path.exists(marker) else None
    write(marker)
    return {
        "paths": {p: outcome(lambda: peek(p)) for p in event["paths"]},
        "tmp_before": before,
        "write_root": outcome(lambda: write("/owned")),
        "write_task": outcome(lambda: write("/var/task/owned")),
        "mount": call(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)),
        "ptrace": call(libc.ptrace(0, 0, None, None)),
        "unshare": call(libc.unshare(0x10000000)),
        "kill_server": outcome(lambda: os.kill(event["server_pid"], signal.SIGKILL)),
        "kill_init": outcome(lambda: os.kill(1, signal.SIGKILL)),  # pid 1 here is the EE itself
        "uid": os.getuid(),
    }
"""


def invoke(lam: Any, name: str, event: Any) -> Any:
    out = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    body = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, body
    return body


def test_hostile_function_is_contained(server: RunningServer) -> None:
    lam = server.client("lambda")
    victim = unique("victim")
    secret = "def handler(event, context):\n    return 'victim-secret-9f2c'\n"
    create(lam, victim, Runtime="python3.11", Code={"ZipFile": make_zip(secret)})
    assert invoke(lam, victim, {}) == "victim-secret-9f2c"  # its code is unpacked now
    victim_files = [
        os.path.join(d, f)
        for d, _, files in os.walk(server.data_dir)
        for f in files
        if f == "app.py" and "victim-secret-9f2c" in Path(d, f).read_text()
    ]
    assert victim_files, "the victim's unpacked code should be on the host"
    paths = [str(server.data_dir), victim_files[0], os.path.dirname(victim_files[0]), "/home", "/var/task"]

    hostile = unique("hostile")
    create(lam, hostile, Runtime="python3.11", Code={"ZipFile": make_zip(HOSTILE)})
    assert server.process.pid is not None
    event = {"paths": paths, "server_pid": server.process.pid}
    first = invoke(lam, hostile, event)
    again = invoke(lam, hostile, event)

    for path in paths[:4]:
        assert first["paths"][path] == "ENOENT", (path, first["paths"][path])
    assert first["paths"]["/var/task"] == "ok"
    assert first["write_root"] in ("EROFS", "EACCES") and first["write_task"] in ("EROFS", "EACCES")
    assert first["mount"] == first["ptrace"] == first["unshare"] == "EPERM"
    assert first["kill_server"] == "ESRCH"  # outside its pid namespace: no such process
    assert server.process.poll() is None
    assert first["kill_init"] == "ok"  # and the kernel ignores it: the EE answered
    assert first["uid"] == 993
    assert first["tmp_before"] is None and again["tmp_before"] == "x"  # /tmp lives as long as the EE
    assert invoke(lam, victim, {}) == "victim-secret-9f2c"  # the platform keeps serving others


def layer_zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


LAYERED = """
import os, greeting, only_in_first
def handler(event, context):
    return {
        "greeting": greeting.TEXT,
        "first": only_in_first.TEXT,
        "file": open("/opt/data/info.txt").read(),
        "file_from": greeting.__file__,
    }
"""


def test_layers_are_mounted_at_opt_in_order(server: RunningServer) -> None:
    lam = server.client("lambda")
    first = lam.publish_layer_version(
        LayerName=unique("base"),
        Content={
            "ZipFile": layer_zip(
                {
                    "python/greeting.py": "TEXT = 'from base'\n",
                    "python/only_in_first.py": "TEXT = 'first'\n",
                    "data/info.txt": "base data",
                }
            )
        },
    )
    second = lam.publish_layer_version(
        LayerName=unique("override"),
        Content={"ZipFile": layer_zip({"python/greeting.py": "TEXT = 'from override'\n"})},
    )
    name = unique("layered")
    create(
        lam,
        name,
        Runtime="python3.11",
        Code={"ZipFile": make_zip(LAYERED)},
        Layers=[first["LayerVersionArn"], second["LayerVersionArn"]],
    )
    body = invoke(lam, name, {})
    assert body == {
        "greeting": "from override",
        "first": "first",
        "file": "base data",
        "file_from": "/opt/python/greeting.py",
    }


MISCHIEF = """
import os, signal, sys, time

def handler(event, context):
    what = event["do"]
    if what == "loop":
        while True:
            pass
    if what == "close_stdout":
        print("before closing", flush=True)
        sys.stdout.close()
        os.close(1)
        os.close(2)
        return "closed"
    if what == "kill_parent":
        for pid in (os.getppid(), 1):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return "still here"
    if what == "fork_bomb":
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.01)
    return "ok"
"""


def test_mischief_is_contained_and_others_keep_being_served(server: RunningServer) -> None:
    lam = server.client("lambda", read_timeout=60)
    name = unique("mischief")
    create(lam, name, Runtime="python3.11", Code={"ZipFile": make_zip(MISCHIEF)}, Timeout=2)
    bystander = unique("bystander")
    create(lam, bystander, Runtime="python3.11", Code={"ZipFile": make_zip()})

    def run(what: str) -> tuple[dict[str, Any], Any]:
        out = lam.invoke(FunctionName=name, Payload=json.dumps({"do": what}).encode())
        return out, json.loads(out["Payload"].read())

    out, body = run("loop")  # an infinite loop: killed at the timeout, as AWS reports it
    assert out["FunctionError"] == "Unhandled" and body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in body["errorMessage"]
    out, body = run("close_stdout")  # no more output, but the result still comes back
    assert "FunctionError" not in out and body == "closed"
    out, body = run("kill_parent")  # its parent is out of reach (or is itself, pid 1)
    assert server.process.poll() is None
    out, body = run("fork_bomb")  # the pids limit holds it; the timeout ends it
    assert out["FunctionError"] == "Unhandled"
    assert server.process.poll() is None
    for _ in range(3):  # the platform and the function itself keep serving
        assert json.loads(lam.invoke(FunctionName=bystander, Payload=b'{"x": 1}')["Payload"].read()) == {
            "x": 1
        }
        out, body = run("noop")
        assert "FunctionError" not in out and body == "ok"
