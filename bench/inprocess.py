"""The in-process client's cost: a call between services through `Calls` (validation against
the model, the operation table, the authorizer, a request context) against calling the
provider's method directly, in one process, on one data directory (issue: the client may cost
at most 10 % more).

    python bench/inprocess.py [--n 20000] [--rounds 7]

Operations: SQS SendMessage (what SNS, S3 and Lambda destinations call most), GetQueueUrl
(a cached lookup with little work of its own: the client's worst case), DynamoDB PutItem. Rounds alternate direct and client blocks (ABBA, so that a growing queue favours
neither); the figures are medians of per-call means. "client - direct" is the fixed cost of a
call through the client (validation, context, table, authorizer, request id).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from squall.compose import build_services
from squall.config import Settings
from squall.services.context import Principal, RequestContext
from squall.services.ports import queue_url
from squall.storage import DataDir

A, R = "000000000000", "us-east-1"


async def per_call_us(fn: Callable[[int], Awaitable[Any]], n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        await fn(i)
    return (time.perf_counter() - start) / n * 1e6


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    root = Path(tempfile.mkdtemp(prefix="squall-bench-inprocess-"))
    data = DataDir.open(root / "data")
    services = build_services(Settings(data_dir=root / "data", workers=1), data)
    calls = services.calls
    principal = Principal.for_service("sns.amazonaws.com", A, source_arn=f"arn:aws:sns:{R}:{A}:t")
    await calls.call(Principal.root(A), "sqs", "CreateQueue", {"QueueName": "bench"}, region=R)
    table = {
        "TableName": "bench",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    await calls.call(Principal.root(A), "dynamodb", "CreateTable", table, region=R)
    url = queue_url(f"arn:aws:sqs:{R}:{A}:bench")
    cases: list[tuple[str, str, str, Callable[[int], dict[str, Any]]]] = [
        ("SQS SendMessage", "sqs", "SendMessage", lambda i: {"QueueUrl": url, "MessageBody": f"message {i}"}),
        ("SQS GetQueueUrl", "sqs", "GetQueueUrl", lambda i: {"QueueName": "bench"}),
        (
            "DynamoDB PutItem",
            "dynamodb",
            "PutItem",
            lambda i: {"TableName": "bench", "Item": {"pk": {"S": f"k{i % 1000}"}, "v": {"N": str(i)}}},
        ),
    ]
    print(f"{'operation':<24} {'direct µs':>10} {'client µs':>10} {'ratio':>7} {'client - direct':>16}")
    try:
        for label, service, operation, params in cases:
            op = services.registry.operation(service, operation)
            ctx = RequestContext("bench", principal, R, service, operation, settings_endpoint(services))

            async def direct(i: int, op: Any = op, ctx: Any = ctx, params: Any = params) -> Any:
                result = op.handler(ctx, params(i))
                return await result if op.is_async else result

            async def client(
                i: int, service: str = service, operation: str = operation, params: Any = params
            ) -> Any:
                return await calls.call(principal, service, operation, params(i), region=R)

            await per_call_us(direct, 2000)  # warm caches and compiled plans
            await per_call_us(client, 2000)
            d, c = [], []
            for r in range(args.rounds):  # ABBA: a queue that grows favours neither side
                if r % 2 == 0:
                    d.append(await per_call_us(direct, args.n))
                    c.append(await per_call_us(client, args.n))
                else:
                    c.append(await per_call_us(client, args.n))
                    d.append(await per_call_us(direct, args.n))
            dm, cm = statistics.median(d), statistics.median(c)
            print(f"{label:<24} {dm:>10.2f} {cm:>10.2f} {cm / dm:>7.3f} {cm - dm:>13.2f} µs")
    finally:
        services.close()
        data.close()


def settings_endpoint(services: Any) -> str:
    return str(services.calls.endpoint)


if __name__ == "__main__":
    asyncio.run(main())
