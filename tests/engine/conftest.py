"""Engine fixtures: one zygote per interpreter for the session, and functions written to tmp dirs."""

from __future__ import annotations

import asyncio
import textwrap
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from squall.engine.environment import ExecutionEnvironment, InvocationResult
from squall.engine.host import CgroupSupport, discover_interpreters, probe_cgroups
from squall.engine.spec import FunctionConfig
from squall.engine.zygote import Zygote

T = TypeVar("T")
VERSIONS = ("3.11", "3.12")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def until(check: Callable[[], object], within_s: float = 10.0, every_s: float = 0.02) -> None:
    """Return once `check()` is true (polling: it reads state outside the loop, e.g. /proc);
    fails after `within_s` seconds."""
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(every_s)


def proc_state(pid: int) -> str:
    """The state letter of /proc/PID/stat (R, S, T, Z...)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.fixture(scope="session")
def zygotes() -> Iterator[dict[str, Zygote]]:
    found = {i.version: i for i in discover_interpreters() if i.version in VERSIONS}
    started = {v: Zygote.start(i) for v, i in found.items()}
    yield started
    for z in started.values():
        z.stop()


@pytest.fixture
def zygote(zygotes: dict[str, Zygote]) -> Zygote:
    if "3.11" not in zygotes:
        pytest.skip("no python3.11 interpreter")
    return zygotes["3.11"]


@pytest.fixture(scope="session")
def cgroups() -> CgroupSupport | None:
    support = probe_cgroups()
    return support if support.version and support.writable else None


@pytest.fixture
def write_function(tmp_path: Path) -> Callable[..., str]:
    def write(source: str, module: str = "lambda_function") -> str:
        code = tmp_path / "code"
        code.mkdir(exist_ok=True)
        (code / f"{module}.py").write_text(textwrap.dedent(source))
        return str(code)

    return write


def config(code_dir: str, handler: str = "lambda_function.handler", **kw: Any) -> FunctionConfig:
    return FunctionConfig(
        function_name=kw.pop("function_name", "fn"), handler=handler, code_dir=code_dir, **kw
    )


async def start_and_invoke(
    ee: ExecutionEnvironment, event: bytes = b"{}", timeout_s: float = 3.0, **kw: Any
) -> InvocationResult:
    assert await ee.start(), ee.init_error
    return await ee.invoke(event, time.time() + timeout_s, **kw)


def alive(pid: int) -> bool:
    """A process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # gone, or vanished while being read (ESRCH)
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def gone(pid: int, within: float = 2.0) -> bool:
    """Wait until a process no longer runs (zombies count as gone)."""
    deadline = time.monotonic() + within
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True
