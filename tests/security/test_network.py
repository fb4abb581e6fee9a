"""Hostile functions against the network (issue 13, items 2 and 4).

Each EE has a network namespace of its own: it reaches the Squall endpoint
(boto3 works) and, with egress on, the outside; not the host's loopback
services (another Squall server among them), the host's own addresses, the
host's abstract Unix sockets, 169.254.169.254, another EE's listener or
another EE's Runtime API. A function's listener cannot be reached from
outside its EE. The attacks run as Python and as provided.al2023 functions.

Needs root (a namespace per EE does); the "outside" is a namespace the test
makes, with a veth and a listener, as CI has no internet.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from squall.engine.host import discover_interpreters
from tests.conftest import RunningServer, start_server
from tests.services.lambda_.helpers import create, unique

PY311 = next((i.path for i in discover_interpreters() if i.version == "3.11"), None)
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="a network namespace per EE needs root"),
    pytest.mark.skipif(PY311 is None, reason="no python3.11 interpreter"),
]

METADATA = "169.254.169.254"
# The test's "internet": a namespace behind a veth, one /30 per test process (xdist runs two).
_NET = 4 * (os.getpid() % 16000)
OUTSIDE_HOST = f"198.18.{_NET // 256}.{_NET % 256 + 1}"
OUTSIDE_NS = f"198.18.{_NET // 256}.{_NET % 256 + 2}"
_LINK = f"sqt{os.getpid()}"

# The attacks, in one module: a Python handler, and a Runtime API loop for provided.al2023.
PROBE = r'''
import json, os, socket, threading, urllib.request

LISTENERS = []

def tcp(host, port, timeout=1.0):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while len(data) < 4096:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return "connected: " + data.decode("latin-1")
    except OSError as exc:
        return "failed: " + type(exc).__name__
    finally:
        s.close()

def abstract(name):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect("\0" + name)
        return "connected"
    except OSError as exc:
        return "failed: " + type(exc).__name__
    finally:
        s.close()

def http(method, url, body=None, timeout=1.0):
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode("latin-1")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("latin-1")
    except Exception as exc:
        return None, type(exc).__name__

def scan(skip):
    """Every TCP port open on 127.0.0.1 here, and which of them answer as a Lambda Runtime API."""
    open_ports, apis = [], []
    for port in range(1, 65536):
        s = socket.socket()
        try:
            # (a connect from ephemeral port P to P itself succeeds: TCP's simultaneous open)
            if s.connect_ex(("127.0.0.1", port)) == 0 and s.getsockname()[1] != port:
                open_ports.append(port)
        finally:
            s.close()
    for port in open_ports:
        if port in skip:
            continue
        status, text = http("POST", f"http://127.0.0.1:{port}/2018-06-01/runtime/invocation/forged/response", b"{}")
        if status in (202, 400) and ("InvalidRequestID" in text or "OK" in text):
            apis.append(port)
            # The attack of issue 13: take the next event and answer it for its function.
            status, event = http("GET", f"http://127.0.0.1:{port}/2018-06-01/runtime/invocation/next", timeout=3)
            if status == 200:
                apis.append(event)
    return open_ports, apis

def listen_everywhere(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(16)
    LISTENERS.append(s)
    def serve():
        while True:
            c, _ = s.accept()
            c.sendall(b"HTTP/1.0 200 OK\r\n\r\nfunction-listener")
            c.close()
    threading.Thread(target=serve, daemon=True).start()
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.123", 9))  # any routed address: no packet is sent
        return probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()

def gateway():
    """The host's end of this EE's link (its default gateway), from this EE's own address."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.123", 9))  # any routed address: no packet is sent
        mine = probe.getsockname()[0].split(".")
    except OSError:
        return None
    finally:
        probe.close()
    return ".".join(mine[:3] + [str(int(mine[3]) - 1)])

def sdk(endpoint=None):
    import boto3
    return boto3.client("sts", endpoint_url=endpoint).get_caller_identity()["Account"]

def run(event):
    out = {}
    for key, (host, port) in event.get("tcp", {}).items():
        out[key] = tcp(gateway() if host == "gateway" else host, port)
    for key, name in event.get("abstract", {}).items():
        out[key] = abstract(name)
    if "scan" in event:
        out["scan"] = scan(set(event["scan"]))
    if "listen" in event:
        out["listen"] = listen_everywhere(event["listen"])
    if event.get("sdk"):
        out["sdk"] = sdk()
    if event.get("sdk_at"):
        out["sdk_at"] = sdk(event["sdk_at"])
    if "secret" in event:
        import time
        time.sleep(event.get("sleep", 0))
        out["secret"] = event["secret"]
    out["runtime_api"] = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    return out

def handler(event, context):
    return run(event)

def runtime_loop():
    api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
    while True:
        with urllib.request.urlopen(api + "next") as r:
            request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(r.read())
        body = json.dumps(run(event)).encode()
        urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", data=body, method="POST")).read()

if __name__ == "__main__":
    runtime_loop()
'''


def probe_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("probe.py", date_time=(2024, 1, 1, 0, 0, 0)), PROBE)
        info = zipfile.ZipInfo("bootstrap", date_time=(2024, 1, 1, 0, 0, 0))
        info.external_attr = 0o100755 << 16
        zf.writestr(info, f'#!/bin/sh\nexec {PY311} -s "$LAMBDA_TASK_ROOT/probe.py"\n')
    return buf.getvalue()


def make_function(lam: Any, runtime: str) -> str:
    name = unique("net")
    create(lam, name, Runtime=runtime, Handler="probe.handler", Timeout=20, Code={"ZipFile": probe_zip()})
    return name


def invoke(lam: Any, name: str, event: dict[str, Any]) -> dict[str, Any]:
    out = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail")
    body = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, (body, base64.b64decode(out.get("LogResult", "")).decode())
    assert isinstance(body, dict)
    return body


class Listener:
    """A TCP listener on the host that answers and counts who reached it."""

    def __init__(self, family: socket.AddressFamily, address: Any) -> None:
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(address)
        self.sock.listen(16)
        self.hits = 0
        self.port = self.sock.getsockname()[1] if family != socket.AF_UNIX else 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.hits += 1
            with conn:
                conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nhost-secret")

    def close(self) -> None:
        self.sock.close()


def host_address() -> str:
    """The host's own address on its first non-loopback interface (eth0 here)."""
    out = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True
    )
    for line in out.stdout.splitlines():
        fields = line.split()
        if not fields[1].startswith(("sqh", "sqt")):
            return fields[3].split("/")[0]
    pytest.skip("no global IPv4 address on this host")


@pytest.fixture(scope="module")
def targets() -> Iterator[dict[str, Any]]:
    """What a function must not reach: listeners on the host's loopback, its own address and the
    metadata address (put on lo for the test), and an abstract Unix socket."""
    name = f"squall-test-{uuid.uuid4().hex}"
    # The address may be there already (another test process's): then it is that one's to remove.
    ours = (
        subprocess.run(["ip", "addr", "add", f"{METADATA}/32", "dev", "lo"], capture_output=True).returncode
        == 0
    )
    made = {
        "loopback": Listener(socket.AF_INET, ("127.0.0.1", 0)),
        "host": Listener(socket.AF_INET, (host_address(), 0)),
        "anywhere": Listener(socket.AF_INET, ("0.0.0.0", 0)),
        "metadata": Listener(socket.AF_INET, (METADATA, 0)),
        "abstract": Listener(socket.AF_UNIX, "\0" + name),
    }
    yield {"listeners": made, "abstract": name}
    for listener in made.values():
        listener.close()
    if ours:
        subprocess.run(["ip", "addr", "del", f"{METADATA}/32", "dev", "lo"], capture_output=True)


@pytest.fixture(scope="module")
def other_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = start_server(tmp_path_factory.mktemp("other") / "data")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def outside() -> Iterator[str]:
    """An "internet" host: a namespace behind a veth from the host, serving HTTP on port 8080."""
    ns = f"sqt-out-{os.getpid()}"
    steps = [
        ["ip", "netns", "add", ns],
        ["ip", "link", "add", _LINK, "type", "veth", "peer", "name", "eth0", "netns", ns],
        ["ip", "addr", "add", f"{OUTSIDE_HOST}/30", "dev", _LINK],
        ["ip", "link", "set", _LINK, "up"],
        ["ip", "-n", ns, "addr", "add", f"{OUTSIDE_NS}/30", "dev", "eth0"],
        ["ip", "-n", ns, "link", "set", "eth0", "up"],
        ["ip", "-n", ns, "link", "set", "lo", "up"],
    ]
    try:
        for step in steps:
            subprocess.run(step, check=True, capture_output=True)
        server = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", OUTSIDE_SERVER],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        yield f"{OUTSIDE_NS}"
        server.kill()
        server.wait()
    finally:
        subprocess.run(["ip", "link", "del", _LINK], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


OUTSIDE_SERVER = """
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"outside-ok")
    def log_message(self, *a): pass
srv = http.server.HTTPServer(("0.0.0.0", 8080), H)
print("ready", flush=True)
srv.serve_forever()
"""


@pytest.fixture(scope="module")
def no_egress(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = start_server(tmp_path_factory.mktemp("noegress") / "data", "--lambda-egress", "off")
    yield srv
    srv.stop()


@pytest.mark.parametrize("runtime", ["python3.11", "provided.al2023"])
def test_function_reaches_nothing_of_the_host(
    server: RunningServer, other_server: RunningServer, targets: dict[str, Any], runtime: str
) -> None:
    lam = server.client("lambda")
    name = make_function(lam, runtime)
    listeners = targets["listeners"]
    tcp = {
        "loopback": ["127.0.0.1", listeners["loopback"].port],
        "host": [host_address(), listeners["host"].port],
        "metadata": [METADATA, listeners["metadata"].port],
        "other_server": ["127.0.0.1", other_server.port],
        "gateway": ["gateway", listeners["anywhere"].port],  # the host, by its end of the EE's veth
        "anywhere_by_loopback": ["127.0.0.1", listeners["anywhere"].port],
    }
    squall_sockets = _squall_abstract_sockets()
    assert squall_sockets, "the servers' own abstract sockets (the primary's forwarding socket)"
    abstract = {"abstract": targets["abstract"], **{f"squall-{i}": n for i, n in enumerate(squall_sockets)}}
    got = invoke(lam, name, {"tcp": tcp, "abstract": abstract})
    for key in [*tcp, *abstract]:
        assert got[key].startswith("failed"), (key, got[key])
    for key, listener in listeners.items():
        assert listener.hits == 0, key
    if runtime == "provided.al2023":
        assert got["runtime_api"] == "127.0.0.1:9001"  # as on AWS, in the EE's own namespace


def test_boto3_inside_a_function_reaches_squall(server: RunningServer) -> None:
    lam = server.client("lambda")
    name = make_function(lam, "python3.11")
    got = invoke(lam, name, {"sdk": True, "sdk_at": f"http://localhost:{server.port}"})
    assert got["sdk"] == got["sdk_at"] == "000000000000"  # AWS_ENDPOINT_URL, and localhost:<port>


def test_no_other_runtime_api_is_reachable_and_no_forged_response_lands(server: RunningServer) -> None:
    lam = server.client("lambda")
    victim = make_function(lam, "provided.al2023")
    attacker = make_function(lam, "python3.11")
    invoke(lam, victim, {})  # a warm EE, its Runtime API waiting for the next event
    secret = uuid.uuid4().hex
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(invoke, lam, victim, {"secret": secret, "sleep": 2})
        got = invoke(lam, attacker, {"scan": [server.port]})
        victim_result = answer.result(timeout=60)
    open_ports, apis = got["scan"]
    assert open_ports == [server.port]  # the Squall endpoint alone: no host port, no Runtime API
    assert apis == []
    assert victim_result["secret"] == secret  # the caller got its own function's answer


def test_a_function_listening_on_all_addresses_is_reachable_from_nowhere(server: RunningServer) -> None:
    lam = server.client("lambda")
    name = make_function(lam, "python3.11")
    address = invoke(lam, name, {"listen": 18123})["listen"]
    other = make_function(lam, "provided.al2023")
    tries = {"loopback": ["127.0.0.1", 18123]}
    if address:
        tries["eth0"] = [address, 18123]
    # From the host.
    for host, port in tries.values():
        with socket.socket() as s:
            s.settimeout(1.0)
            assert s.connect_ex((host, port)) != 0, host
    # From another EE.
    got = invoke(lam, other, {"tcp": tries})
    for key in tries:
        assert got[key].startswith("failed"), (key, got[key])


@pytest.mark.skipif(shutil.which("nft") is None, reason="egress needs nft (Debian's nftables)")
def test_egress_reaches_the_outside(server: RunningServer, outside: str) -> None:
    lam = server.client("lambda")
    for runtime in ("python3.11", "provided.al2023"):
        name = make_function(lam, runtime)
        got = invoke(lam, name, {"tcp": {"outside": [outside, 8080]}})
        assert got["outside"].startswith("connected") and "outside-ok" in got["outside"], got


def test_egress_off_reaches_squall_but_not_the_outside(no_egress: RunningServer, outside: str) -> None:
    lam = no_egress.client("lambda")
    name = make_function(lam, "python3.11")
    got = invoke(lam, name, {"tcp": {"outside": [outside, 8080]}, "sdk": True})
    assert got["outside"].startswith("failed"), got
    assert got["sdk"] == "000000000000"


def test_the_banner_says_where_the_network_stands(server: RunningServer, no_egress: RunningServer) -> None:
    assert "network: a namespace per EE" in server.log()
    if shutil.which("nft") is not None:
        assert "egress on" in server.log() and "ip_forward" in server.log()
    assert "egress off (loopback only)" in no_egress.log()


def test_nothing_is_left_when_the_server_is_killed(tmp_path: Path) -> None:
    """kill -9: the EEs' namespaces and veths go with the server (nothing named on the filesystem)."""
    srv = start_server(tmp_path / "data")
    try:
        lam = srv.client("lambda")
        name = make_function(lam, "python3.11")
        invoke(lam, name, {})
        pid = srv.process.pid
        # Its veths: netns.py takes slots from pid * 7 on (another test process's server has others).
        links = _links() & {f"sqh{(pid * 7 + k) % 16384}" for k in range(256)}
        assert links, "the server has veths for its EEs and spares"
    finally:
        srv.stop(sig=9)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (_links() & links):
        time.sleep(0.05)
    assert not (_links() & links), f"veths of killed server {pid} left"


def _squall_abstract_sockets() -> list[str]:
    """Squall's listening abstract Unix sockets on the host (e.g. the primary's, which workers
    forward requests to), by name without the leading NUL."""
    names = set()
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[7].startswith("@squall-primary-") and fields[3] == "00010000":
            names.add(fields[7][1:])  # flags __SO_ACCEPTCON: listening
    return sorted(names)


def _links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ": sqh" in line}
