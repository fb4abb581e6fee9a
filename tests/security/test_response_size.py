"""A function's response is bounded while it is read, not after (issue 13, item 8).

The attack: functions returning 60 MB each. The server buffered up to 64 MiB of every
response before the 6 MB check: 8 concurrent ones took its RSS from 176 to 654 MB. Now
the bytes past the limit are dropped as they arrive (the EE's channel) or never read
(the Runtime API of a custom runtime), and each caller gets Lambda's error.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from squall.engine.host import discover_interpreters
from tests.conftest import RunningServer, start_server
from tests.security import procs
from tests.services.lambda_.helpers import create, make_zip, unique

pytestmark = pytest.mark.skipif(
    not any(i.version == "3.11" for i in discover_interpreters()), reason="no python3.11 interpreter"
)

BIG = 60 * 1000 * 1000
CONCURRENT = 8

PYTHON = """
def handler(event, context):
    return "x" * event["size"]
"""

# A custom runtime posting its response with curl: SIZE bytes of JSON string.
BOOTSTRAP = """#!/bin/bash
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS="$(mktemp)"
  EVENT=$(curl -sS -LD "$HEADERS" "$API/invocation/next")
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  SIZE=$(echo "$EVENT" | tr -dc 0-9)
  { printf '"'; head -c "$SIZE" /dev/zero | tr '\\0' x; printf '"'; } \\
    | curl -sS -o /dev/null "$API/invocation/$ID/response" --data-binary @- || true
done
"""


def provided_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("bootstrap", date_time=(2024, 1, 1, 0, 0, 0))
        info.external_attr = 0o100755 << 16
        zf.writestr(info, BOOTSTRAP)
    return buf.getvalue()


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("response-size") / "data")
    yield server
    server.stop()


def server_rss_kb(server_pid: int) -> int:
    """VmRSS of the server and its worker processes (`python -m squall.worker`): not zygotes,
    not EEs, and not the short-lived children the server forks to run a tool (mkfs, losetup,
    nft), whose copy of the server's pages would count again until they exec."""
    total = 0
    for pid in [server_pid, *procs.descendants(server_pid)]:
        try:
            if pid != server_pid and b"squall.worker" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total


class PeakRss:
    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, server_rss_kb(self.pid))
            self._stop.wait(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, server_rss_kb(self.pid))


@pytest.mark.parametrize("runtime", ["python3.11", "provided.al2023"])
def test_oversized_responses_are_not_buffered(srv: RunningServer, runtime: str) -> None:
    lam = srv.client("lambda", max_pool_connections=CONCURRENT * 2, read_timeout=120)
    name = unique("big")
    if runtime == "python3.11":
        code = make_zip(PYTHON)
        create(lam, name, Runtime=runtime, MemorySize=1024, Timeout=60, Code={"ZipFile": code})
    else:
        create(
            lam,
            name,
            Runtime=runtime,
            Handler="x.y",
            MemorySize=512,
            Timeout=60,
            Code={"ZipFile": provided_zip()},
        )

    def call(size: int) -> tuple[dict, object]:  # type: ignore[type-arg]
        out = lam.invoke(FunctionName=name, Payload=json.dumps({"size": size}).encode())
        return out, json.loads(out["Payload"].read())

    with ThreadPoolExecutor(CONCURRENT) as pool:  # warm: CONCURRENT EEs, and the server's own buffers
        for out, body in pool.map(call, [10] * CONCURRENT):
            assert "FunctionError" not in out and body == "x" * 10, body
    baseline = server_rss_kb(srv.process.pid)
    with PeakRss(srv.process.pid) as rss, ThreadPoolExecutor(CONCURRENT) as pool:
        results = list(pool.map(call, [BIG] * CONCURRENT))
    for out, body in results:
        assert out.get("FunctionError") == "Unhandled"
        assert isinstance(body, dict) and body["errorType"] == "Function.ResponseSizeTooLarge", body
        assert body["errorMessage"] == (
            "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
        )
    grown_mb = (rss.peak - baseline) / 1024
    print(f"server RSS {baseline // 1024} MB -> peak {rss.peak // 1024} MB")
    assert grown_mb < BIG / 1e6, f"server RSS grew by {grown_mb:.0f} MB for {CONCURRENT} x 60 MB responses"
    # The EEs are still usable (or were replaced cleanly): the next calls succeed.
    with ThreadPoolExecutor(CONCURRENT) as pool:
        for out, body in pool.map(call, [10] * CONCURRENT):
            assert "FunctionError" not in out and body == "x" * 10, body
