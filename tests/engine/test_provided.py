"""The custom-runtime EE and its Runtime API: a bash + curl bootstrap, real processes, real HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from squall.engine.ee_base import EnvState
from squall.engine.host import CgroupSupport, probe_isolation
from squall.engine.provided import ProvidedEnvironment
from squall.engine.runtime_api import Invocation, RuntimeApi
from squall.engine.sandbox import usable_namespaces
from squall.engine.zygote import Zygote
from squall.lib.tasks import running

from .conftest import config, gone, run

# In the style of AWS's custom-runtime tutorial: source the handler file, loop on /next.
BOOTSTRAP = """#!/bin/bash
set -euo pipefail
source "$LAMBDA_TASK_ROOT/$(echo $_HANDLER | cut -d. -f1).sh"
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS="$(mktemp)"
  EVENT_DATA=$(curl -sS -LD "$HEADERS" "$API/invocation/next")
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  if [ "$EVENT_DATA" = '"exit"' ]; then exit 3; fi
  if RESPONSE=$($(echo "$_HANDLER" | cut -d. -f2) "$EVENT_DATA"); then
    curl -sS -o /dev/null "$API/invocation/$REQUEST_ID/response" -d "$RESPONSE"
  else
    curl -sS -o /dev/null "$API/invocation/$REQUEST_ID/error" \\
      -H "Lambda-Runtime-Function-Error-Type: Function.Failed" \\
      -d '{"errorMessage":"handler failed","errorType":"Function.Failed"}'
  fi
done
"""

FUNCTION = """function handler () {
  EVENT_DATA=$1
  echo "got $EVENT_DATA" 1>&2
  echo "exec_env=${AWS_EXECUTION_ENV:-unset} api=$AWS_LAMBDA_RUNTIME_API" 1>&2
  case "$EVENT_DATA" in
    *fail*) return 1 ;;
    *sleep*) sleep 30 ;;
  esac
  RESPONSE="{\\"echo\\": $EVENT_DATA, \\"pid\\": $$}"
  echo $RESPONSE
}
"""


def bash_function(tmp_path: Path, bootstrap: str = BOOTSTRAP, mode: int = 0o755) -> str:
    code = tmp_path / "code"
    code.mkdir()
    (code / "bootstrap").write_text(bootstrap)
    os.chmod(code / "bootstrap", mode)
    (code / "function.sh").write_text(FUNCTION)
    return str(code)


def provided(code: str, zygote: Zygote, **kw: object) -> ProvidedEnvironment:
    return ProvidedEnvironment(
        config(code, handler="function.handler", runtime="provided.al2023", **kw), zygote
    )  # type: ignore[arg-type]


def test_bash_bootstrap_success_error_and_warm_reuse(tmp_path: Path, zygote: Zygote) -> None:
    async def go() -> None:
        ee = provided(bash_function(tmp_path), zygote)
        assert await ee.start(), ee.init_error
        assert ee.state is EnvState.READY and ee.init_ms is not None
        first = await ee.invoke(b'{"a": 1}', time.time() + 5, request_id="req-1")
        assert first.ok, first.payload
        assert json.loads(first.payload)["echo"] == {"a": 1}
        assert first.init_ms is not None and b'got {"a": 1}' in first.logs
        assert b"exec_env=unset api=127.0.0.1:" in first.logs
        ee.freeze()
        second = await ee.invoke(b'{"fail": true}', time.time() + 5)
        assert not second.ok and second.init_ms is None
        assert json.loads(second.payload) == {
            "errorMessage": "handler failed",
            "errorType": "Function.Failed",
        }
        third = await ee.invoke(b"[2]", time.time() + 5)
        assert third.ok and json.loads(third.payload)["echo"] == [2]
        ee.destroy()
        assert ee.state is EnvState.DEAD

    run(go())


def test_timeout_destroys_the_ee(tmp_path: Path, zygote: Zygote) -> None:
    async def go() -> None:
        ee = provided(bash_function(tmp_path), zygote, timeout_s=1.0)
        assert await ee.start()
        assert ee.pid is not None
        result = await ee.invoke(b'"sleep"', time.time() + 1.0, request_id="r-t")
        doc = json.loads(result.payload)
        assert doc["errorMessage"] == "RequestId: r-t Error: Task timed out after 1.00 seconds"
        assert ee.state is EnvState.DEAD and gone(ee.pid)

    run(go())


def test_exit_during_invoke_is_runtime_exit_error(tmp_path: Path, zygote: Zygote) -> None:
    async def go() -> None:
        ee = provided(bash_function(tmp_path), zygote)
        assert await ee.start()
        result = await ee.invoke(b'"exit"', time.time() + 5, request_id="r-x")
        assert json.loads(result.payload) == {
            "errorMessage": "RequestId: r-x Error: Runtime exited with error: exit status 3",
            "errorType": "Runtime.ExitError",
        }
        assert ee.state is EnvState.DEAD

    run(go())


@pytest.mark.parametrize(
    ("bootstrap", "mode", "error_type", "message"),
    [
        (
            "#!/bin/bash\necho starting\nexit 2\n",
            0o755,
            "Runtime.ExitError",
            "Runtime exited with error: exit status 2",
        ),
        (
            "#!/bin/bash\nkill -9 $$\n",
            0o755,
            "Runtime.ExitError",
            "Runtime exited with error: signal: killed",
        ),
        (
            "#!/bin/bash\nexit 0\n",
            0o644,
            "Runtime.InvalidEntrypoint",
            "fork/exec {task}/bootstrap: permission denied",
        ),
        (
            None,
            0,
            "Runtime.InvalidEntrypoint",
            "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]",
        ),
    ],
)
def test_init_failures(
    tmp_path: Path, zygote: Zygote, bootstrap: str | None, mode: int, error_type: str, message: str
) -> None:
    async def go() -> None:
        code = bash_function(tmp_path, bootstrap or "", mode)
        if bootstrap is None:
            os.unlink(Path(code, "bootstrap"))
        ee = provided(code, zygote)
        assert not await ee.start()
        assert ee.state is EnvState.DEAD
        doc = json.loads(ee.init_error_for("r-i"))
        assert doc["errorType"] == error_type
        assert doc["errorMessage"] == f"RequestId: r-i Error: {message.format(task=code)}"

    run(go())


def test_init_error_endpoint_reports_the_runtimes_document(tmp_path: Path, zygote: Zygote) -> None:
    script = """#!/bin/bash
curl -sS -o /dev/null "http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/init/error" \\
  -H "Lambda-Runtime-Function-Error-Type: Runtime.Custom" -d '{"errorMessage":"no config","errorType":"Runtime.Custom"}'
exit 1
"""

    async def go() -> None:
        ee = provided(bash_function(tmp_path, script), zygote)
        assert not await ee.start()
        assert json.loads(ee.init_error_for("r")) == {
            "errorMessage": "no config",
            "errorType": "Runtime.Custom",
        }

    run(go())


def _call(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, bytes, dict[str, str]]:
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def test_runtime_api_statuses_and_headers() -> None:
    async def go() -> None:
        api = RuntimeApi(max_response_bytes=10)
        base = f"http://{await api.start()}/2018-06-01/runtime"
        try:
            inv = Invocation(
                "id-1",
                b'{"k": 1}',
                {"Lambda-Runtime-Aws-Request-Id": "id-1", "Lambda-Runtime-Deadline-Ms": "5"},
            )
            api.submit(inv, 10)
            status, body, headers = await asyncio.to_thread(_call, f"{base}/invocation/next")
            assert (status, body) == (200, b'{"k": 1}') and headers["Lambda-Runtime-Aws-Request-Id"] == "id-1"
            assert api.first_next.is_set()
            status, body, _ = await asyncio.to_thread(
                _call, f"{base}/invocation/other/response", "POST", b"1"
            )
            assert status == 400 and json.loads(body) == {
                "errorMessage": "Invalid request ID",
                "errorType": "InvalidRequestID",
            }
            status, body, _ = await asyncio.to_thread(
                _call, f"{base}/invocation/id-1/response", "POST", b"x" * 11
            )
            assert status == 413 and json.loads(body)["errorType"] == "RequestEntityTooLarge"
            outcome = await inv.outcome
            assert not outcome.ok and json.loads(outcome.body)["errorType"] == "Function.ResponseSizeTooLarge"
            status, _, _ = await asyncio.to_thread(_call, f"{base}/invocation/id-1/response", "POST", b"1")
            assert status == 400  # already answered
            inv2 = Invocation("id-2", b"{}", {})
            api.submit(inv2, 10)
            await asyncio.to_thread(_call, f"{base}/invocation/next")
            status, body, _ = await asyncio.to_thread(
                _call, f"{base}/invocation/id-2/response", "POST", b'"ok"'
            )
            assert (status, json.loads(body)) == (202, {"status": "OK"})
            assert (await inv2.outcome).body == b'"ok"'
            status, _, _ = await asyncio.to_thread(_call, f"http://{base.split('/')[2]}/nope")
            assert status == 404
        finally:
            api.close()

    run(go())


def test_pool_runs_provided_runtimes_in_the_sandbox_warm(tmp_path: Path) -> None:
    from squall.engine.pool import PoolManager

    code = bash_function(tmp_path)
    fc = config(code, handler="function.handler", runtime="provided.al2")

    async def go() -> None:
        pools = PoolManager()
        async with running(pools):
            a = await pools.invoke("p", "g", fc, b"1", time.time() + 5)
            b = await pools.invoke("p", "g", fc, b"2", time.time() + 5)
            assert a.ok and b.ok, (a.payload, b.payload)
            assert a.init_ms is not None and b.init_ms is None
            assert json.loads(a.payload)["pid"] == json.loads(b.payload)["pid"]
            assert a.max_memory_mb is None or a.max_memory_mb > 0

    run(go())


async def _raw(
    address: str, data: bytes, until: bytes
) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = address.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    got = b""
    while until not in got:
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        assert chunk, got
        got += chunk
    return got, reader, writer


def test_runtime_api_keep_alive_chunked_bodies_and_hangups() -> None:
    async def go() -> None:
        api = RuntimeApi()
        address = await api.start()
        try:
            # A runtime that hangs up while parked on /next leaves the event to the next caller.
            _, _, w = await _raw(
                address, b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n", b""
            )
            await asyncio.sleep(0.05)
            w.close()
            await asyncio.sleep(0.05)
            inv = Invocation("id-9", b'{"e": 9}', {"Lambda-Runtime-Aws-Request-Id": "id-9"})
            api.submit(inv, None)
            next_req = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"
            got, reader, writer = await _raw(address, next_req, b'{"e": 9}')
            assert got.startswith(b"HTTP/1.1 200") and b"lambda-runtime-aws-request-id: id-9" in got.lower()
            # Same connection (keep-alive), chunked body.
            writer.write(
                b"POST /2018-06-01/runtime/invocation/id-9/response HTTP/1.1\r\nHost: x\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n3\r\n 2]\r\n0\r\n\r\n"
            )
            reply = await asyncio.wait_for(reader.read(65536), 5)
            assert reply.startswith(b"HTTP/1.1 202")
            assert (await inv.outcome).body == b"[1, 2]"
            writer.write(
                b"POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
            )
            reply = await asyncio.wait_for(reader.read(65536), 5)
            assert reply.startswith(b"HTTP/1.1 403") and b"InvalidStateTransition" in reply
            writer.close()
        finally:
            api.close()

    run(go())


def test_large_response_through_curl_and_the_size_limit(tmp_path: Path, zygote: Zygote) -> None:
    script = """#!/bin/bash
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
DIR=$(mktemp -d)
while true; do
  ID=$(curl -sS -D - -o "$DIR/event" "$API/invocation/next" | grep -Fi Lambda-Runtime-Aws-Request-Id | tr -d '[:space:]' | cut -d: -f2)
  SIZE=$(cat "$DIR/event")
  { printf '"'; head -c "$SIZE" /dev/zero | tr '\\000' a; printf '"'; } > "$DIR/out"
  curl -sS -o /dev/null "$API/invocation/$ID/response" --data-binary @"$DIR/out"
done
"""

    async def go() -> None:
        ee = provided(bash_function(tmp_path, script), zygote)
        assert await ee.start(), ee.init_error
        big = await ee.invoke(b"2000000", time.time() + 10, max_response_bytes=3_000_000)
        assert big.ok and len(big.payload) == 2_000_002 and big.payload.startswith(b'"aaa')
        over = await ee.invoke(b"2000000", time.time() + 10, max_response_bytes=1_000_000)
        assert not over.ok and json.loads(over.payload)["errorType"] == "Function.ResponseSizeTooLarge"
        assert ee.state is EnvState.READY
        again = await ee.invoke(b"10", time.time() + 10)
        assert again.ok and again.payload == b'"' + b"a" * 10 + b'"'
        ee.destroy()

    run(go())


def test_a_dropped_ee_takes_its_bootstrap_with_it(tmp_path: Path, zygote: Zygote) -> None:
    """The server letting go of the channel (no destroy) still ends every process of the EE."""

    async def go() -> None:
        ee = provided(bash_function(tmp_path), zygote)
        assert await ee.start()
        pid = int(json.loads((await ee.invoke(b"{}", time.time() + 5)).payload)["pid"])
        assert ee._channel is not None
        ee._channel.close()  # the Runtime API stays up: the bootstrap would wait on /next forever
        try:
            assert await asyncio.to_thread(gone, pid, 5)
        finally:
            ee.destroy()

    run(go())


def test_daemon_and_memory_hog_are_contained_in_the_sandbox(
    tmp_path: Path, zygote: Zygote, cgroups: CgroupSupport | None
) -> None:
    """A bootstrap that leaves a daemon behind and then hoards memory: OOM-killed, nothing survives."""
    if cgroups is None:
        pytest.skip("needs writable cgroups")
    script = """#!/bin/bash
setsid sleep 1000 < /dev/null > /dev/null 2>&1 &
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
curl -sS -o /dev/null "$API/invocation/next"
head -c 400m /dev/zero | tail > /dev/null
"""

    async def go() -> None:
        ee = ProvidedEnvironment(
            config(bash_function(tmp_path, script), handler="x.y", runtime="provided.al2023", memory_mb=128),
            zygote,
            cgroups,
            usable_namespaces(probe_isolation()),
        )
        assert await ee.start(), ee.init_error
        cgroup = ee.cgroup
        assert cgroup is not None
        pids = cgroup.pids()
        assert len(pids) >= 3  # supervisor, bootstrap, daemon
        result = await ee.invoke(b"{}", time.time() + 10, request_id="r-m")
        doc = json.loads(result.payload)
        assert doc["errorType"] == "Runtime.OutOfMemory", doc
        assert doc["errorMessage"] == "RequestId: r-m Error: Runtime exited with error: signal: killed"
        assert ee.state is EnvState.DEAD
        assert all(gone(pid) for pid in pids)

    run(go())


def test_runtime_api_stops_reading_a_response_past_the_limit() -> None:
    """A 60 MB /response is answered 413 once the limit is passed: the rest is never read."""

    async def go() -> None:
        api = RuntimeApi(max_response_bytes=1000)
        host, port = (await api.start()).split(":")
        try:
            inv = Invocation("id-big", b"{}", {"Lambda-Runtime-Aws-Request-Id": "id-big"})
            api.submit(inv, 1000)
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(
                next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1]
            )
            await reader.readexactly(length)
            big = 60 * 1000 * 1000
            writer.write(
                b"POST /2018-06-01/runtime/invocation/id-big/response HTTP/1.1\r\nHost: x\r\n"
                + f"Content-Length: {big}\r\n\r\n".encode()
                + b"x" * 64 * 1024  # far less than announced: the answer must not wait for the rest
            )
            status = await asyncio.wait_for(reader.readline(), 5)
            assert status.startswith(b"HTTP/1.1 413"), status
            outcome = await inv.outcome
            assert not outcome.ok and json.loads(outcome.body)["errorType"] == "Function.ResponseSizeTooLarge"
            writer.close()
        finally:
            api.close()

    asyncio.run(go())
