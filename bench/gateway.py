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

import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from harness import arguments, free_port, line, lua_script, signed, squall_server, wait_up, wrk

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


def main() -> None:
    args = arguments("Signed STS GetCallerIdentity through Squall, and a bare ASGI baseline")
    conns = args.connection_counts
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    with tempfile.TemporaryDirectory() as tmp:
        with squall_server(f"{tmp}/data", args.workers, args.profile) as endpoint:
            headers = signed(endpoint + "/", "sts", body, "application/x-www-form-urlencoded; charset=utf-8")
            script = lua_script(Path(tmp) / "req.lua", headers, body)
            req = urllib.request.Request(endpoint + "/", data=body, headers=headers, method="POST")
            with urllib.request.urlopen(req) as resp:  # the signed request is accepted
                assert b"<Account>000000000000</Account>" in resp.read()
            results = {c: wrk(endpoint + "/", script, c, args.duration, args.repeat) for c in conns}
        base_results = {}
        if not args.no_baseline:
            bport = free_port()
            baseline = subprocess.Popen([sys.executable, "-c", BASELINE_APP, str(bport)])
            try:
                burl = f"http://127.0.0.1:{bport}/"
                wait_up(burl)
                base_results = {c: wrk(burl, script, c, args.duration, args.repeat) for c in conns}
            finally:
                baseline.send_signal(signal.SIGTERM)
                baseline.wait(10)
    for c in conns:
        out = line("squall GetCallerIdentity", c, results[c])
        if c in base_results:
            b = base_results[c]
            out += f"   | bare ASGI {float(b['rps']):>8.0f}/s  ratio {float(results[c]['rps']) / float(b['rps']):.2f}"
        print(out)


if __name__ == "__main__":
    main()
