"""A burst from 0 to N concurrent synchronous invokes of a cold function (issue 4: N = 200).

Starts a Squall server with a throwaway data directory, creates a Python
function whose handler sleeps --sleep seconds (so the calls overlap), then
releases N threads at once, each doing one boto3 `Invoke` with `LogType=Tail`.
Reports the time until all answered, successes, throttles (429 by `Reason`),
other errors, and how many execution environments were started (REPORT lines
carrying `Init Duration`). Exit status 1 if any error other than a documented
throttle occurred.

    python bench/burst.py [--concurrency 200] [--sleep 0.5] [--python 3.11]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from harness import handler_zip, squall_server

HANDLER = (
    "import time\ndef handler(event, context):\n    time.sleep(event['sleep'])\n    return {'ok': True}\n"
)
NAME = "bench-burst"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--sleep", type=float, default=0.5)
    ap.add_argument("--python", default="3.11")
    args = ap.parse_args()
    n = args.concurrency
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp, squall_server(f"{tmp}/data") as endpoint:
        lam = boto3.client(
            "lambda",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 1}, max_pool_connections=n, read_timeout=120),
        )
        lam.create_function(
            FunctionName=NAME,
            Runtime=f"python{args.python}",
            Role="arn:aws:iam::000000000000:role/bench",
            Handler="app.handler",
            Code={"ZipFile": handler_zip(HANDLER)},
            Timeout=60,
        )
        lam.get_waiter("function_active_v2").wait(FunctionName=NAME)
        lam.get_account_settings()  # open a connection, load the model
        gate = threading.Barrier(n)
        payload = json.dumps({"sleep": args.sleep}).encode()

        def one(_: int) -> tuple[str, bool]:
            gate.wait()
            try:
                out: dict[str, Any] = lam.invoke(FunctionName=NAME, Payload=payload, LogType="Tail")
            except ClientError as exc:
                reason = exc.response.get("Reason")
                code = exc.response["Error"]["Code"]
                return (
                    f"throttled:{reason}" if code == "TooManyRequestsException" else f"error:{code}"
                ), False
            except Exception as exc:  # a transport failure counts as an error
                return f"error:{type(exc).__name__}", False
            tail = base64.b64decode(out.get("LogResult", "")).decode(errors="replace")
            if out.get("FunctionError"):
                return "error:FunctionError", False
            return "ok", "Init Duration" in tail

        started = time.perf_counter()
        with ThreadPoolExecutor(n) as pool:
            results = list(pool.map(one, range(n)))
        elapsed = time.perf_counter() - started
    outcomes = Counter(kind for kind, _ in results)
    cold = sum(1 for _, c in results if c)
    errors = {k: v for k, v in outcomes.items() if k.startswith("error:")}
    print(f"burst 0 -> {n} concurrent invokes, handler sleeps {args.sleep} s")
    print(f"  all answered in {elapsed:.2f} s")
    print(f"  ok {outcomes['ok']}, execution environments started {cold}")
    print(f"  throttled {sum(v for k, v in outcomes.items() if k.startswith('throttled:'))} {dict(outcomes)}")
    print(f"  errors {sum(errors.values())} {errors}")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
