"""Cold start of a custom runtime (provided.al2023): fork + exec of a bash + curl bootstrap + first result.

Usage: PYTHONPATH=src python bench/coldstart_provided.py [--n 20]
Prints median and p90 of new-EE-to-first-result, bare and in the full sandbox (cgroup + namespaces),
and of warm invokes (one /next + /response round trip by curl).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from squall.engine.host import CgroupSupport, discover_interpreters, probe_isolation
from squall.engine.provided import ProvidedEnvironment
from squall.engine.sandbox import usable_namespaces
from squall.engine.spec import FunctionConfig
from squall.engine.zygote import Zygote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.engine.test_provided import BOOTSTRAP, FUNCTION


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def measure(
    zygote: Zygote, cfg: FunctionConfig, cgroups: CgroupSupport | None, ns: frozenset[str], n: int
) -> tuple[list[float], list[float]]:
    cold, warm = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        ee = ProvidedEnvironment(cfg, zygote, cgroups, ns)
        assert await ee.start(), ee.init_error
        result = await ee.invoke(b"{}", time.time() + 5)
        cold.append((time.perf_counter() - t0) * 1000)
        assert result.ok, result.payload
        t1 = time.perf_counter()
        assert (await ee.invoke(b"{}", time.time() + 5)).ok
        warm.append((time.perf_counter() - t1) * 1000)
        ee.destroy()
    return cold, warm


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20)
    args = parser.parse_args()
    ours = f"{sys.version_info.major}.{sys.version_info.minor}"
    interp = next(i for i in discover_interpreters() if i.version == ours)
    zygote = Zygote.start(interp)
    isolation = probe_isolation()
    cgroups = isolation.cgroups if isolation.cgroups.version and isolation.cgroups.writable else None
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bootstrap").write_text(BOOTSTRAP)
        os.chmod(Path(tmp, "bootstrap"), 0o755)
        Path(tmp, "function.sh").write_text(FUNCTION)
        cfg = FunctionConfig("bench", "function.handler", tmp, runtime="provided.al2023")
        try:
            for label, cg, ns in (
                ("bare", None, frozenset[str]()),
                ("sandboxed", cgroups, usable_namespaces(isolation)),
            ):
                cold, warm = asyncio.run(measure(zygote, cfg, cg, ns, args.n))
                print(
                    f"{label:10s} cold p50 {statistics.median(cold):6.1f} ms  p90 {pct(cold, 0.9):6.1f} ms  "
                    f"warm p50 {statistics.median(warm):5.1f} ms   (n={args.n}, ns={sorted(ns)})"
                )
        finally:
            zygote.stop()


if __name__ == "__main__":
    main()
