"""Many idle execution environments at once: memory per idle (frozen) Python EE, as PSS.

One function, N concurrent invocations of a handler that sleeps --hold seconds,
run through the engine's `PoolManager` with the host's full sandbox (cgroups,
namespaces, seccomp where available): the pool has to start N EEs, which then
return to it idle and are frozen (after the lazy-freeze grace). Then, for every
EE, the PSS of each of its processes (/proc/PID/smaps_rollup; an EE in a pid
namespace is a waiter plus the runtime) is summed; the total divided by N is the
memory per idle EE. PSS splits each page shared with the zygote or other EEs
between its sharers, so the sum over all EEs plus the zygote is what they cost.

    PYTHONPATH=src python bench/scale.py [--n 500] [--python 3.11] [--hold 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path

from squall.engine.environment import EnvState
from squall.engine.pool import PoolManager
from squall.engine.spec import FunctionConfig
from squall.lib.tasks import running

HANDLER = (
    "import time\ndef handler(event, context):\n    time.sleep(event['hold'])\n    return {'ok': True}\n"
)
MB = 1024 * 1024


def kb_field(path: str, name: str) -> int:
    """A "Name:  123 kB" field of a /proc file, in kB (0 if the process is gone)."""
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return 0


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
    return out


def ee_pids(ee: object) -> list[int]:
    cgroup = getattr(ee, "cgroup", None)
    if cgroup is not None:
        return cgroup.pids()
    pid = getattr(ee, "pid", None)
    return descendants(pid) if pid else []


async def fill(pools: PoolManager, cfg: FunctionConfig, n: int, hold: float) -> float:
    event = f'{{"hold": {hold}}}'.encode()
    t0 = time.perf_counter()
    results = await asyncio.gather(
        *(pools.invoke("scale", "g", cfg, event, time.time() + hold + 60) for _ in range(n))
    )
    bad = [r.payload for r in results if not r.ok]
    if bad:
        raise SystemExit(f"{len(bad)} invocations failed, e.g. {bad[0]!r}")
    return time.perf_counter() - t0


async def measure(args: argparse.Namespace, code: str) -> None:
    pools = PoolManager(keep_alive_s=3600)
    async with running(pools):
        cfg = FunctionConfig("scale", "lambda_function.handler", code, runtime=f"python{args.python}")
        took = await fill(pools, cfg, args.n, args.hold)
        await asyncio.sleep(max(getattr(pools, "freeze_grace_s", 0.0) * 4, 0.2))  # every EE idle and frozen
        idle = [i.ee for i in pools._pools["scale"].idle]
        frozen = sum(ee.state is EnvState.FROZEN for ee in idle)
        per_ee_kb = [sum(kb_field(f"/proc/{p}/smaps_rollup", "Pss") for p in ee_pids(ee)) for ee in idle]
        procs = sum(len(ee_pids(ee)) for ee in idle)
        zygote = pools.zygotes[args.python]
        zygote_pss = kb_field(f"/proc/{zygote.process.pid}/smaps_rollup", "Pss")
        server_rss = kb_field(f"/proc/{os.getpid()}/status", "VmRSS")
        total = sum(per_ee_kb)
        print(f"EEs started: {args.n} in {took:.2f} s; idle in the pool: {len(idle)}, frozen: {frozen}")
        print(f"processes of those EEs: {procs}")
        print(
            f"PSS per idle EE: mean {total / max(len(idle), 1) / 1024:.2f} MB, "
            f"median {statistics.median(per_ee_kb) / 1024:.2f} MB, max {max(per_ee_kb) / 1024:.2f} MB"
        )
        print(f"PSS of all EEs: {total / 1024:.0f} MB; zygote PSS: {zygote_pss / 1024:.1f} MB")
        print(f"server (this process) RSS: {server_rss / 1024:.1f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--python", default="3.11")
    ap.add_argument("--hold", type=float, default=2.0, help="seconds each first invocation sleeps")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as code:
        Path(code).chmod(0o755)
        Path(code, "lambda_function.py").write_text(HANDLER)
        asyncio.run(measure(args, code))


if __name__ == "__main__":
    main()
