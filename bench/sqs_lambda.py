"""SQS -> Lambda event source mapping throughput (batch size 10, a trivial handler).

Starts a Squall server with a throwaway data directory, creates a Python function whose
handler returns at once and an SQS queue, then measures two things:

- drain: --messages messages are sent first (SendMessageBatch) with the mapping disabled;
  the mapping is enabled and the time until the queue is empty (visible + in flight = 0)
  gives messages/s; the rate over the middle of the drain (10% .. 90% processed) is
  printed too, as the pollers scale up at the start.
- sustained: --producers processes send batches of 10 for --duration seconds while the
  mapping consumes; processed = sent - left in the queue at the end, over the duration.

The producers use a light client (http.client keep-alive, botocore's SigV4 signer) and
share the cores with the server, so the sustained figure is a floor.

    python bench/sqs_lambda.py [--messages 40000] [--duration 20] [--producers 1]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import tempfile
import time
from typing import Any

from harness import client, handler_zip, squall_server
from sqs import Client

HANDLER = "def handler(event, context):\n    return None\n"


def left(sqs: Any, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(a[names[0]]) + int(a[names[1]])


def wait_state(lam: Any, uuid: str, state: str) -> None:
    while lam.get_event_source_mapping(UUID=uuid)["State"] != state:
        time.sleep(0.1)


def fill(endpoint: str, url: str, n: int) -> None:
    sqs = Client(endpoint)
    entries = [{"Id": str(i), "MessageBody": f"message body {i} " + "x" * 64} for i in range(10)]
    for _ in range(n // 10):
        sqs.call("SendMessageBatch", {"QueueUrl": url, "Entries": entries})


def produce(endpoint: str, url: str, stop: Any, sent: Any) -> None:
    sqs = Client(endpoint)
    entries = [{"Id": str(i), "MessageBody": f"message body {i} " + "x" * 64} for i in range(10)]
    while not stop.is_set():
        sqs.call("SendMessageBatch", {"QueueUrl": url, "Entries": entries})
        with sent.get_lock():
            sent.value += 10


def setup(endpoint: str, lam: Any, sqs: Any, name: str) -> tuple[str, str]:
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role="arn:aws:iam::000000000000:role/bench",
        Handler="app.handler",
        Code={"ZipFile": handler_zip(HANDLER)},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    uuid = lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=arn, BatchSize=10, Enabled=False
    )["UUID"]
    wait_state(lam, uuid, "Disabled")
    return url, uuid


def drain(endpoint: str, messages: int) -> None:
    lam, sqs = client(endpoint, "lambda"), client(endpoint, "sqs")
    url, uuid = setup(endpoint, lam, sqs, f"drain-{os.getpid()}")
    fill(endpoint, url, messages)
    lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    samples: list[tuple[float, int]] = []
    start = time.monotonic()
    while True:
        n = left(sqs, url)
        samples.append((time.monotonic(), messages - n))
        if n == 0:
            break
        time.sleep(2)  # counting scans the queue: sampled sparingly not to load the server
    total = samples[-1][0] - start
    lo = next(s for s in samples if s[1] >= messages * 0.1)
    hi = next(s for s in samples if s[1] >= messages * 0.9)
    middle = (hi[1] - lo[1]) / max(hi[0] - lo[0], 1e-9)
    print(
        f"drain {messages} messages: {total:.1f} s from enabling, {messages / total:.0f} messages/s overall, "
        f"{middle:.0f} messages/s between 10% and 90%"
    )
    lam.update_event_source_mapping(UUID=uuid, Enabled=False)


def sustained(endpoint: str, duration: float, producers: int) -> None:
    lam, sqs = client(endpoint, "lambda"), client(endpoint, "sqs")
    url, uuid = setup(endpoint, lam, sqs, f"sustained-{os.getpid()}")
    lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    wait_state(lam, uuid, "Enabled")
    stop, sent = mp.Event(), mp.Value("q", 0)
    procs = [mp.Process(target=produce, args=(endpoint, url, stop, sent)) for _ in range(producers)]
    for p in procs:
        p.start()
    time.sleep(2)  # warm-up: the pollers scale up
    base_sent, base_left, t0 = sent.value, left(sqs, url), time.monotonic()
    time.sleep(duration)
    end_sent, end_left, t1 = sent.value, left(sqs, url), time.monotonic()
    stop.set()
    for p in procs:
        p.join()
    processed = (end_sent - base_sent) - (end_left - base_left)
    print(
        f"sustained ({producers} producer process(es), {duration:.0f} s): sent {(end_sent - base_sent) / (t1 - t0):.0f}"
        f" messages/s, processed {processed / (t1 - t0):.0f} messages/s, backlog {base_left} -> {end_left}"
    )
    print("  LastProcessingResult:", lam.get_event_source_mapping(UUID=uuid).get("LastProcessingResult"))


def main() -> None:
    ap = argparse.ArgumentParser(description="SQS -> Lambda event source mapping throughput")
    ap.add_argument("--messages", type=int, default=40_000)
    ap.add_argument("--duration", type=float, default=20)
    ap.add_argument("--producers", type=int, default=1)
    ap.add_argument("--endpoint", help="a running server to use instead of starting one (drain only)")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if args.endpoint:
        if args.messages:
            drain(args.endpoint, args.messages)
        else:
            sustained(args.endpoint, args.duration, args.producers)
        return
    with tempfile.TemporaryDirectory() as tmp, squall_server(f"{tmp}/data") as endpoint:
        drain(endpoint, args.messages)
        sustained(endpoint, args.duration, args.producers)


if __name__ == "__main__":
    main()
