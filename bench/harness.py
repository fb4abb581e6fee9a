"""What the HTTP benchmarks share: a throwaway Squall server, SigV4-signed
requests replayed by wrk, and wrk's figures (median run of several)."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

Figures = dict[str, str | float]


def arguments(description: str, **extra: str) -> argparse.Namespace:
    """The common flags (--duration, --connections, --repeat) plus `extra` string flags
    (name -> default; `query_items` is spelt --query-items); checks that wrk is installed and prints the machine."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", default="1,16")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument(
        "--workers",
        type=int,
        default=0,
        help="squall up --workers N (server processes; 0 = its default: one per core)",
    )
    ap.add_argument("--profile", default="", help="run the server under cProfile, stats written to this file")
    for name, default in extra.items():
        ap.add_argument(f"--{name.replace('_', '-')}", dest=name.replace("-", "_"), default=default)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install wrk")
    args.connection_counts = [int(c) for c in args.connections.split(",")]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    return args


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str) -> None:
    for _ in range(400):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not come up")


@contextlib.contextmanager
def squall_server(data_dir: str, workers: int = 0, profile: str = "") -> Iterator[str]:
    """`squall up` on a free port with `data_dir`; yields its endpoint once every one of its
    `workers` processes listens, SIGTERMs it after. With `profile`, the (primary) server runs
    under cProfile and writes its stats there when it stops."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    python = [sys.executable, *(["-m", "cProfile", "-o", profile] if profile else [])]
    cmd = [*python, "-m", "squall", "up", "--port", str(port), "--data-dir", data_dir]
    cmd += ["--workers", str(workers)]
    server = subprocess.Popen([*cmd, "--log-level", "warning"], stdout=subprocess.DEVNULL)
    try:
        wait_up(f"{endpoint}/_squall/health")
        deadline = time.monotonic() + 30
        expected = workers or min(os.cpu_count() or 1, 4)
        while _listeners(port) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        print(f"squall up --workers {workers}: {_listeners(port)} server processes listening")
        yield endpoint
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(15)


def _listeners(port: int) -> int:
    """Sockets listening on `port` (one per server process)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                cols = row.split()
                count += cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port
    return count


def handler_zip(source: str) -> bytes:
    """A function package holding `source` as app.py (handler `app.handler`)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", source)
    return buf.getvalue()


def client(endpoint: str, service: str) -> Any:
    """A boto3 client for `service` on Squall's default root key."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def signed(url: str, service: str, body: bytes, content_type: str) -> dict[str, str]:
    """Headers of a POST of `body` to `url`, signed with the default test key."""
    session = botocore.session.get_session()
    session.set_credentials("test", "test")
    req = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": content_type})
    SigV4Auth(session.get_credentials(), service, "us-east-1").add_auth(req)
    return dict(req.headers.items())


def lua_script(path: Path, headers: dict[str, str], body: bytes) -> Path:
    """A wrk script replaying one POST; written to `path`."""
    lines = ['wrk.method = "POST"', f'wrk.body = "{body.decode()}"']
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items() if k.lower() != "host"]
    path.write_text("\n".join(lines) + "\n")
    return path


def wrk(url: str, script: Path, connections: int, duration: int, repeat: int) -> Figures:
    """2 s of warm-up, then `repeat` runs; the median run by requests/s."""
    base = ["wrk", "-t1", "-c", str(connections), "-s", str(script)]
    subprocess.run([*base, "-d", "2s", url], capture_output=True, check=True)
    runs = sorted((_wrk_once(base, url, duration) for _ in range(repeat)), key=lambda r: float(r["rps"]))
    return runs[len(runs) // 2]


def _wrk_once(base: list[str], url: str, duration: int) -> Figures:
    out = subprocess.run(
        [*base, "-d", f"{duration}s", "--latency", url], capture_output=True, text=True, check=True
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50": p50.group(1) if p50 else "?",
        "p99": p99.group(1) if p99 else "?",
        "non2xx": bad.group(1) if bad else "0",
    }


def line(label: str, connections: int, r: Figures) -> str:
    return (
        f"{label}  connections={connections:>3}  requests/s={float(r['rps']):>8.0f}  "
        f"p50={r['p50']}  p99={r['p99']}  non-2xx={r['non2xx']}"
    )
