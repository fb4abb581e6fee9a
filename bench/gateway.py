"""Gateway throughput: a signed STS GetCallerIdentity at 1 and 16 connections.

Starts a Squall server on a free port with a throwaway data directory, signs
one real request with botocore, and replays it with wrk (Debian package `wrk`),
so SigV4 verification, routing, parsing, validation and serialization run on
every request. For scale, the same wrk load also hits a bare ASGI app (fixed
200 response) on the same uvicorn settings: the ratio is the cost of Squall's
pipeline. Prints requests/s and latency percentiles.

    python bench/gateway.py [--duration 10] [--connections 1,16] [--repeat 3] [--no-baseline]

Each point is the median run of --repeat wrk runs (by requests/s).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

BASELINE_APP = """
import uvicorn
BODY = b"<GetCallerIdentityResponse/>"
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/xml"), (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})
uvicorn.run(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), log_level="warning",
            access_log=False, server_header=False, lifespan="off")
"""


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


def signed_request(endpoint: str) -> tuple[dict[str, str], bytes]:
    session = botocore.session.get_session()
    session.set_credentials("test", "test")
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    req = AWSRequest(
        method="POST",
        url=endpoint + "/",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(session.get_credentials(), "sts", "us-east-1").add_auth(req)
    return dict(req.headers.items()), body


def lua_script(headers: dict[str, str], body: bytes) -> str:
    lines = ['wrk.method = "POST"', f'wrk.body = "{body.decode()}"']
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items() if k.lower() != "host"]
    return "\n".join(lines) + "\n"


def wrk(url: str, script: Path, connections: int, duration: int, repeat: int) -> dict[str, str | float]:
    base = ["wrk", "-t1", "-c", str(connections), "-s", str(script)]
    subprocess.run([*base, "-d", "2s", url], capture_output=True, check=True)  # warm-up
    runs = sorted((wrk_once(base, url, duration) for _ in range(repeat)), key=lambda r: float(r["rps"]))
    return runs[len(runs) // 2]


def wrk_once(base: list[str], url: str, duration: int) -> dict[str, str | float]:
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", default="1,16")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install wrk")
    conns = [int(c) for c in args.connections.split(",")]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "squall", "up", "--port", str(port), "--data-dir", f"{tmp}/data"]
        server = subprocess.Popen([*cmd, "--log-level", "warning"], stdout=subprocess.DEVNULL)
        baseline = None
        try:
            wait_up(f"{endpoint}/_squall/health")
            headers, body = signed_request(endpoint)
            script = Path(tmp) / "req.lua"
            script.write_text(lua_script(headers, body))
            req = urllib.request.Request(endpoint + "/", data=body, headers=headers, method="POST")
            with urllib.request.urlopen(req) as resp:  # the signed request is accepted
                assert b"<Account>000000000000</Account>" in resp.read()
            results = {c: wrk(endpoint + "/", script, c, args.duration, args.repeat) for c in conns}
            server.send_signal(signal.SIGTERM)
            server.wait(10)
            base_results = {}
            if not args.no_baseline:
                bport = free_port()
                baseline = subprocess.Popen([sys.executable, "-c", BASELINE_APP, str(bport)])
                wait_up(f"http://127.0.0.1:{bport}/")
                burl = f"http://127.0.0.1:{bport}/"
                base_results = {c: wrk(burl, script, c, args.duration, args.repeat) for c in conns}
        finally:
            for proc in (server, baseline):
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(10)
    for c in conns:
        r = results[c]
        line = (
            f"squall GetCallerIdentity  connections={c:>3}  requests/s={r['rps']:>8.0f}  "
            f"p50={r['p50']}  p99={r['p99']}  non-2xx={r['non2xx']}"
        )
        if c in base_results:
            b = base_results[c]
            line += f"   | bare ASGI {b['rps']:>8.0f}/s  ratio {r['rps'] / b['rps']:.2f}"
        print(line)


if __name__ == "__main__":
    main()
