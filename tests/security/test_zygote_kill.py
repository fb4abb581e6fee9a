"""A killed zygote costs callers nothing (issue 13, item 9).

The attack (or accident): ``kill -9`` of a zygote. Its EEs die with it (PR_SET_PDEATHSIG),
and each warm EE used to fail its next invocation with ``Runtime.ExitError``. Now an
invocation whose EE was dead before the function took the event runs on a new EE, and
the zygote is restarted.
"""

from __future__ import annotations

import io
import json
import os
import signal
import time
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from squall.engine.host import discover_interpreters
from tests.conftest import RunningServer, start_server
from tests.engine.test_provided import BOOTSTRAP as BASH_BOOTSTRAP
from tests.engine.test_provided import FUNCTION as BASH_FUNCTION
from tests.security import procs
from tests.services.lambda_.helpers import create, make_zip, unique

pytestmark = pytest.mark.skipif(
    not any(i.version == "3.11" for i in discover_interpreters()), reason="no python3.11 interpreter"
)

APP = """
import os, uuid
EE = uuid.uuid4().hex
def handler(event, context):
    return {"ee": EE, "n": event.get("n")}
"""


def wait_for(condition: Callable[[], object], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("zygote-kill") / "data")
    yield server
    server.stop()


def bash_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("bootstrap", date_time=(2024, 1, 1, 0, 0, 0))
        info.external_attr = 0o100755 << 16
        zf.writestr(info, BASH_BOOTSTRAP)
        zf.writestr("function.sh", BASH_FUNCTION)
    return buf.getvalue()


def test_warm_functions_survive_a_killed_zygote(srv: RunningServer) -> None:
    lam = srv.client("lambda", max_pool_connections=16)
    python = [unique("warm") for _ in range(3)]
    for name in python:
        create(lam, name, Runtime="python3.11", Code={"ZipFile": make_zip(APP)})
    bash = unique("warm-bash")
    create(lam, bash, Runtime="provided.al2023", Handler="function.handler", Code={"ZipFile": bash_zip()})

    def call(name: str, n: int) -> dict:  # type: ignore[type-arg]
        out = lam.invoke(FunctionName=name, Payload=json.dumps({"n": n}).encode())
        body = json.loads(out["Payload"].read())
        assert "FunctionError" not in out, (name, body)
        return body  # type: ignore[no-any-return]

    def round_(n: int) -> list[dict]:  # type: ignore[type-arg]
        # two concurrent calls per function: two warm EEs each
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(call, [*python, *python, bash, bash], [n] * 8))

    first = round_(0)
    assert all(r.get("n", r.get("echo", {}).get("n")) == 0 for r in first)
    for attempt in range(2):  # and again: the restarted zygote can be killed too
        zygotes = procs.zygotes(srv.process.pid)
        assert zygotes, "no zygote under the server"
        ees = [p for z in zygotes for p in procs.descendants(z)]  # EEs, runtimes, their children
        assert len(ees) >= 8
        for pid in zygotes:
            os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda zs=zygotes: all(procs.zombie(p) for p in zs))
        # Their EEs die with them, asynchronously (a frozen one only once thawed): give them the
        # time to, then call whether they did or not.
        wait_for(lambda gone=ees: all(procs.zombie(p) for p in gone), timeout=5.0)
        # Every warm EE died with its zygote: each following invoke still succeeds.
        for n in range(1, 4):
            results = round_(10 * attempt + n)
            assert len(results) == 8
        for name in python:
            assert call(name, 99)["n"] == 99
        assert procs.zygotes(srv.process.pid), "the zygote was not restarted"
    assert "Traceback" not in srv.log()
