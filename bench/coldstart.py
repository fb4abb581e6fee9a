"""Cold start (fork + Init + first result) and warm invoke latency of forked Python EEs.

Usage: PYTHONPATH=src python bench/coldstart.py [--n 200] [--python 3.11] [--full-only]
Prints median and p99 for cold starts with and without a cgroup sandbox, and warm invokes
(--full-only: the full sandbox alone, cgroup + namespaces + seccomp, and, as root, the same plus
a network namespace per EE (spares made ahead, each with a veth as egress needs), for quick A/B runs).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from squall.engine import scratch
from squall.engine.environment import ExecutionEnvironment
from squall.engine.host import CgroupSupport, discover_interpreters, probe_cgroups, probe_isolation
from squall.engine.image_etc import build_etc
from squall.engine.netns import Plan, SpareNamespaces
from squall.engine.runtime_sdk import default_root
from squall.engine.sandbox import usable_namespaces
from squall.engine.scratch import ScratchPool, pool_for
from squall.engine.spec import FunctionConfig
from squall.engine.zygote import Zygote

HANDLER = "def handler(event, context):\n    return {'ok': True}\n"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def cold(
    zygote: Zygote,
    cfg: FunctionConfig,
    cgroups: CgroupSupport | None,
    n: int,
    namespaces: frozenset[str] = frozenset(),
    seccomp: bool = False,
    network: SpareNamespaces | None = None,
    etc_dir: str | None = None,
    tmp: ScratchPool | None = None,
) -> list[float]:
    times = []
    if network is not None:
        network.warm()
        await asyncio.sleep(0.1)  # the first spares, as a server has them by its first invocation
    for _ in range(n):
        t0 = time.perf_counter()
        ee = ExecutionEnvironment(
            cfg, zygote, cgroups, namespaces, seccomp=seccomp, network=network, etc_dir=etc_dir, scratch=tmp
        )
        assert await ee.start()
        result = await ee.invoke(b"{}", time.time() + 3)
        times.append((time.perf_counter() - t0) * 1000)
        assert result.ok
        ee.destroy()
    return times


async def warm(zygote: Zygote, cfg: FunctionConfig, n: int) -> list[float]:
    ee = ExecutionEnvironment(cfg, zygote)
    assert await ee.start()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        await ee.invoke(b'{"key": "value"}', time.time() + 3)
        times.append((time.perf_counter() - t0) * 1000)
    ee.destroy()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--python", default="3.11")
    parser.add_argument("--full-only", action="store_true")
    args = parser.parse_args()
    interpreter = next(i for i in discover_interpreters() if i.version == args.python)
    zygote = Zygote.start(interpreter)
    support = probe_cgroups()
    with tempfile.TemporaryDirectory() as code:
        Path(code).chmod(0o755)  # the sandbox uid must be able to enter it, as it can CodeCache's dirs
        Path(code, "lambda_function.py").write_text(HANDLER)
        cfg = FunctionConfig("bench", "lambda_function.handler", code)
        runs: list[tuple[str, list[float]]] = []
        if not args.full_only:
            runs.append(("cold start, rlimits only", asyncio.run(cold(zygote, cfg, None, args.n))))
        if support.version and support.writable and not args.full_only:
            label = f"cold start, cgroup v{support.version}"
            runs.append((label, asyncio.run(cold(zygote, cfg, support, args.n))))
        isolation = probe_isolation()
        namespaces = usable_namespaces(isolation)
        if namespaces and not args.full_only:
            label = "cold start, + " + "/".join(sorted(namespaces)) + " ns"
            cg = support if support.version and support.writable else None
            runs.append((label, asyncio.run(cold(zygote, cfg, cg, args.n, namespaces))))
        if namespaces and isolation.seccomp:
            cg = support if support.version and support.writable else None
            # as the server runs them: the image /etc, a disk-backed /tmp where the host allows
            etc = str(build_etc(default_root() / "etc")) if "mount" in namespaces else None
            tmp = pool_for(default_root().parent / "scratch") if scratch.supported() else None
            if tmp is not None:
                tmp.warm()
                time.sleep(1.0)  # its first spares
            label = "cold start, + ns + seccomp" + (" + disk /tmp" if tmp else "")
            full = {"etc_dir": etc, "tmp": tmp}
            runs.append((label, asyncio.run(cold(zygote, cfg, cg, args.n, namespaces, True, **full))))
            if os.geteuid() == 0 and isolation.namespaces.get("net"):
                spares = SpareNamespaces(Plan(port=4566, egress=True))
                label += " + net ns"
                runs.append(
                    (label, asyncio.run(cold(zygote, cfg, cg, args.n, namespaces, True, spares, **full)))
                )
                spares.close()
        if not args.full_only:
            runs.append(("warm invoke", asyncio.run(warm(zygote, cfg, args.n * 10))))
    zygote.stop()
    print(f"python {interpreter.full_version}, preloaded: {', '.join(zygote.preloaded)}")
    for label, times in runs:
        print(
            f"{label:38s} n={len(times):5d}  p50 {statistics.median(times):7.3f} ms  p99 {pct(times, 0.99):7.3f} ms"
        )


if __name__ == "__main__":
    main()
