"""The in-process client's cost: a call between services through `Calls` (validation against
the model, the operation table, the authorizer, a request context) against calling the
provider's method directly, in one process, on one data directory (the target: at most 10 %
more).

    python bench/inprocess.py [--n 2000] [--rounds 30]     # wall time, ABBA rounds
    python bench/inprocess.py --callgrind [--n 1000]       # instructions per call (valgrind)

Operations: SQS SendMessage (what SNS, S3 and Lambda destinations call most), GetQueueUrl
(a cached lookup with little work of its own: the client's worst case), DynamoDB PutItem.

Wall time: rounds alternate direct and client blocks (ABBA, so that a growing queue favours
neither); the figures are medians of per-call means; "client - direct" is the fixed cost of a
call through the client. These machines drift by 20-30 % within minutes, so the wall figures
carry several µs of noise. `--callgrind` counts instructions instead (valgrind's callgrind:
repeatable whatever else the machine does): each (operation, path) runs in its own process
with 0 and with N calls after the same warm-up, and the difference divided by N is what one
call executes. Instructions leave out time spent in the kernel (SQLite's writes), so they
overstate the ratio of the operations that write.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from squall.compose import Services, build_services
from squall.config import Settings
from squall.services.context import Principal, RequestContext
from squall.services.ports import queue_url
from squall.storage import DataDir

A, R = "000000000000", "us-east-1"
URL = queue_url(f"arn:aws:sqs:{R}:{A}:bench")
PRINCIPAL = Principal.for_service("sns.amazonaws.com", A, source_arn=f"arn:aws:sns:{R}:{A}:t")
TABLE = {
    "TableName": "bench",
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}
#: label -> (service, operation, params of call i)
CASES: dict[str, tuple[str, str, Callable[[int], dict[str, Any]]]] = {
    "SQS SendMessage": ("sqs", "SendMessage", lambda i: {"QueueUrl": URL, "MessageBody": f"message {i}"}),
    "SQS GetQueueUrl": ("sqs", "GetQueueUrl", lambda i: {"QueueName": "bench"}),
    "DynamoDB PutItem": (
        "dynamodb",
        "PutItem",
        lambda i: {"TableName": "bench", "Item": {"pk": {"S": f"k{i % 1000}"}, "v": {"N": str(i)}}},
    ),
}
Call = Callable[[int], Awaitable[Any]]


async def setup() -> tuple[Services, DataDir]:
    root = Path(tempfile.mkdtemp(prefix="squall-bench-inprocess-"))
    data = DataDir.open(root / "data")
    services = build_services(Settings(data_dir=root / "data", workers=1), data)
    await services.calls.call(Principal.root(A), "sqs", "CreateQueue", {"QueueName": "bench"}, region=R)
    await services.calls.call(Principal.root(A), "dynamodb", "CreateTable", TABLE, region=R)
    return services, data


def paths(services: Services, label: str) -> tuple[Call, Call]:
    """(direct, client) for one case: the provider's handler with a prepared context, and the
    in-process client."""
    service, operation, params = CASES[label]
    op = services.registry.operation(service, operation)
    ctx = RequestContext("bench", PRINCIPAL, R, service, operation, services.calls.endpoint)

    async def direct(i: int) -> Any:
        result = op.handler(ctx, params(i))
        return await result if op.is_async else result  # type: ignore[misc]

    async def client(i: int) -> Any:
        return await services.calls.call(PRINCIPAL, service, operation, params(i), region=R)

    return direct, client


async def per_call_us(fn: Call, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        await fn(i)
    return (time.perf_counter() - start) / n * 1e6


async def wall(n: int, rounds: int) -> None:
    services, data = await setup()
    print(f"{'operation':<24} {'direct µs':>10} {'client µs':>10} {'ratio':>7} {'client - direct':>16}")
    try:
        for label in CASES:
            direct, client = paths(services, label)
            await per_call_us(direct, 2000)  # warm caches and compiled plans
            await per_call_us(client, 2000)
            d, c = [], []
            for r in range(rounds):  # ABBA: a queue that grows favours neither side
                first, second = (direct, client) if r % 2 == 0 else (client, direct)
                a = await per_call_us(first, n)
                b = await per_call_us(second, n)
                d.append(a if first is direct else b)
                c.append(b if first is direct else a)
            dm, cm = statistics.median(d), statistics.median(c)
            print(f"{label:<24} {dm:>10.2f} {cm:>10.2f} {cm / dm:>7.3f} {cm - dm:>13.2f} µs")
    finally:
        services.close()
        data.close()


async def one_path(label: str, path: str, n: int) -> None:
    """What one callgrind run executes: set up, warm both paths, then `n` calls of one."""
    services, data = await setup()
    try:
        direct, client = paths(services, label)
        for i in range(300):
            await direct(i)
            await client(i)
        run = direct if path == "direct" else client
        for i in range(n):
            await run(i)
    finally:
        services.close()
        data.close()


def callgrind(n: int) -> None:
    def instructions(label: str, path: str, calls: int) -> int:
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__,
             "--one", label, path, str(calls)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        found = re.search(r"Collected : (\d+)", out.stderr)
        assert found, out.stderr[-2000:]
        return int(found.group(1))

    print(f"{'operation':<24} {'direct instr':>13} {'client instr':>13} {'ratio':>7} {'client - direct':>16}")
    for label in CASES:
        per = {}
        for path in ("direct", "client"):
            per[path] = (instructions(label, path, n) - instructions(label, path, 0)) / n
        d, c = per["direct"], per["client"]
        print(f"{label:<24} {d:>13,.0f} {c:>13,.0f} {c / d:>7.3f} {c - d:>16,.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=0, help="calls per block (default 2000; --callgrind: 1000)")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--callgrind", action="store_true", help="count instructions with valgrind")
    ap.add_argument("--one", nargs=3, metavar=("LABEL", "PATH", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        asyncio.run(one_path(args.one[0], args.one[1], int(args.one[2])))
        return
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if args.callgrind:
        callgrind(args.n or 1000)
    else:
        asyncio.run(wall(args.n or 2000, args.rounds))


if __name__ == "__main__":
    main()
