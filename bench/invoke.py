"""Warm synchronous Invoke over HTTP: a trivial Python handler at 1 and 16 connections.

Starts a Squall server with a throwaway data directory, creates a function
with boto3, warms it, signs one real `Invoke` with botocore and replays it
with wrk (Debian package `wrk`): every request runs SigV4, routing, parsing,
the pool (thaw, invoke, freeze) and the handler. Prints requests/s and
latency percentiles, each the median of --repeat runs (by requests/s).

    python bench/invoke.py [--duration 10] [--connections 1,16] [--repeat 3] [--python 3.11]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import boto3
import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

sys.path.insert(0, str(Path(__file__).parent))
from gateway import free_port, lua_script, wait_up, wrk

HANDLER = "def handler(event, context):\n    return {'ok': True}\n"
NAME = "bench-invoke"


def package() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", HANDLER)
    return buf.getvalue()


def signed_invoke(endpoint: str) -> tuple[str, dict[str, str], bytes]:
    session = botocore.session.get_session()
    session.set_credentials("test", "test")
    url = f"{endpoint}/2015-03-31/functions/{NAME}/invocations"
    body = b"{}"
    req = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(session.get_credentials(), "lambda", "us-east-1").add_auth(req)
    return url, dict(req.headers.items()), body


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", default="1,16")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--python", default="3.11")
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
        try:
            wait_up(f"{endpoint}/_squall/health")
            lam = boto3.client(
                "lambda",
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id="test",
                aws_secret_access_key="test",
            )
            lam.create_function(
                FunctionName=NAME,
                Runtime=f"python{args.python}",
                Role="arn:aws:iam::000000000000:role/bench",
                Handler="app.handler",
                Code={"ZipFile": package()},
            )
            lam.get_waiter("function_active_v2").wait(FunctionName=NAME, WaiterConfig={"Delay": 0.2})
            out = lam.invoke(FunctionName=NAME, Payload=b"{}")
            assert out["Payload"].read() == b'{"ok": true}', "the handler did not answer"
            url, headers, body = signed_invoke(endpoint)
            script = Path(tmp) / "invoke.lua"
            script.write_text(lua_script(headers, body))
            results = {c: wrk(url, script, c, args.duration, args.repeat) for c in conns}
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(15)
    for c in conns:
        r = results[c]
        print(
            f"squall warm Invoke  connections={c:>3}  requests/s={r['rps']:>8.0f}  "
            f"p50={r['p50']}  p99={r['p99']}  non-2xx={r['non2xx']}"
        )


if __name__ == "__main__":
    main()
