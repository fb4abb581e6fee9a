"""Gateway throughput: a signed STS GetCallerIdentity at 1 and 16 connections.

Starts a Squall server on a free port with a throwaway data directory, signs
one real request with botocore, and replays it with wrk (Debian package `wrk`)
— SigV4 verification runs on every request. Prints requests/s and latency.

    python bench/gateway.py [--duration 10] [--connections 1,16]
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
    return {k: v for k, v in req.headers.items()}, body


def lua_script(headers: dict[str, str], body: bytes) -> str:
    lines = ['wrk.method = "POST"', f'wrk.body = "{body.decode()}"']
    for k, v in headers.items():
        lines.append(f'wrk.headers["{k}"] = "{v}"')
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", default="1,16")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install wrk")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            [sys.executable, "-m", "squall", "up", "--port", str(port), "--data-dir", f"{tmp}/data",
             "--log-level", "warning"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            for _ in range(200):
                try:
                    urllib.request.urlopen(f"{endpoint}/_squall/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.05)
            headers, body = signed_request(endpoint)
            script = Path(tmp) / "req.lua"
            script.write_text(lua_script(headers, body))
            # sanity: the signed request is accepted
            req = urllib.request.Request(endpoint + "/", data=body, headers=headers, method="POST")
            with urllib.request.urlopen(req) as resp:
                assert b"<Account>000000000000</Account>" in resp.read(), "signed request refused"
            print(
                f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
            )
            for conns in (int(c) for c in args.connections.split(",")):
                subprocess.run(["wrk", "-t1", "-c", str(conns), "-d", "2s", "-s", str(script), endpoint + "/"],
                               capture_output=True, check=True)  # fmt: skip
                out = subprocess.run(
                    ["wrk", f"-t{args.threads}", "-c", str(conns), "-d", f"{args.duration}s", "--latency",
                     "-s", str(script), endpoint + "/"],
                    capture_output=True, text=True, check=True,
                ).stdout  # fmt: skip
                rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
                p50 = re.search(r"50%\s+(\S+)", out)
                p99 = re.search(r"99%\s+(\S+)", out)
                errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
                print(
                    f"connections={conns:>3}  requests/s={float(rps.group(1)) if rps else 0:>9.0f}  "
                    f"p50={p50.group(1) if p50 else '?'}  p99={p99.group(1) if p99 else '?'}  "
                    f"non-2xx={errors.group(1) if errors else 0}"
                )
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(10)


if __name__ == "__main__":
    main()
