from __future__ import annotations

import io
import json
import os
import time
import zipfile
from pathlib import Path

import pytest

from squall.engine.codecache import CodeCache, CodeCacheError
from squall.engine.host import discover_interpreters
from squall.engine.pool import PoolManager, UnsupportedRuntime
from squall.lib.tasks import running

from .conftest import config, run

PID = "import os\ndef handler(event, context):\n    return {'pid': os.getpid(), 'v': %d}\n"


def make_zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


def test_code_cache_unpacks_once_read_only(tmp_path: Path) -> None:
    cache = CodeCache(tmp_path / "code")
    loads = []

    def load() -> bytes:
        loads.append(1)
        return make_zip({"lambda_function.py": "x = 1\n", "pkg/mod.py": ""})

    first = cache.path("abc123", load)
    assert cache.path("abc123", load) == first and len(loads) == 1
    assert Path(first, "lambda_function.py").read_text() == "x = 1\n"
    assert not os.access(first, os.W_OK) or os.geteuid() == 0
    with pytest.raises(CodeCacheError):
        cache.path("evil", lambda: make_zip({"../escape.py": ""}))
    assert not (tmp_path / "code" / "evil").exists()


def test_pool_reuses_frozen_ee_and_replaces_on_new_generation(tmp_path: Path) -> None:
    if not any(i.version == "3.11" for i in discover_interpreters()):
        pytest.skip("no python3.11")
    cache = CodeCache(tmp_path / "code")
    one = cache.path("one", lambda: make_zip({"lambda_function.py": PID % 1}))
    two = cache.path("two", lambda: make_zip({"lambda_function.py": PID % 2}))

    async def go() -> None:
        pools = PoolManager(keep_alive_s=600)
        async with running(pools):
            a = await pools.invoke("fn", "g1", config(one), b"{}", time.time() + 3)
            b = await pools.invoke("fn", "g1", config(one), b"{}", time.time() + 3)
            assert a.ok and b.ok and a.init_ms is not None and b.init_ms is None
            assert json.loads(a.payload)["pid"] == json.loads(b.payload)["pid"]
            assert pools.idle_count("fn") == 1
            c = await pools.invoke("fn", "g2", config(two), b"{}", time.time() + 3)
            assert json.loads(c.payload)["v"] == 2 and c.init_ms is not None
            assert pools.reap(now=time.monotonic() + 601) == 1
            assert pools.idle_count("fn") == 0
            with pytest.raises(UnsupportedRuntime):
                await pools.invoke("x", "g", config(one, runtime="nodejs20.x"), b"{}", time.time() + 3)

    run(go())
