"""Warm synchronous Invoke over HTTP: a trivial Python handler at 1 and 16 connections.

Starts a Squall server with a throwaway data directory, creates a function
with boto3, warms it, signs one real `Invoke` with botocore and replays it
with wrk (Debian package `wrk`): every request runs SigV4, routing, parsing,
the pool (thaw, invoke, freeze) and the handler. Prints requests/s and
latency percentiles, each the median of --repeat runs (by requests/s).

    python bench/invoke.py [--duration 10] [--connections 1,16] [--repeat 3] [--python 3.11]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import boto3
from harness import arguments, handler_zip, line, lua_script, signed, squall_server, wrk

HANDLER = "def handler(event, context):\n    return {'ok': True}\n"
NAME = "bench-invoke"


def main() -> None:
    args = arguments("Warm synchronous Invoke of a trivial Python handler over HTTP", python="3.11")
    with (
        tempfile.TemporaryDirectory() as tmp,
        squall_server(f"{tmp}/data", args.workers, args.profile) as endpoint,
    ):
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
            Code={"ZipFile": handler_zip(HANDLER)},
        )
        lam.get_waiter("function_active_v2").wait(FunctionName=NAME, WaiterConfig={"Delay": 0.2})
        out = lam.invoke(FunctionName=NAME, Payload=b"{}")
        assert out["Payload"].read() == b'{"ok": true}', "the handler did not answer"
        url = f"{endpoint}/2015-03-31/functions/{NAME}/invocations"
        body = b"{}"
        script = lua_script(Path(tmp) / "invoke.lua", signed(url, "lambda", body, "application/json"), body)
        results = {c: wrk(url, script, c, args.duration, args.repeat) for c in args.connection_counts}
    for c in args.connection_counts:
        print(line("squall warm Invoke", c, results[c]))


if __name__ == "__main__":
    main()
