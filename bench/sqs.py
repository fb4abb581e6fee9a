"""SQS throughput (send + receive + delete with batch calls) and long-poll wake-up.

Starts a Squall server with a throwaway data directory and drives it with
boto3 from threads: --producers threads send batches of 10, --consumers
threads receive up to 10 (long polling) and delete them in one batch. A run
lasts --duration seconds; messages/s counts messages deleted. Prints the
median run of --repeat. Then the long-poll wake-up: one receiver waits
(WaitTimeSeconds=20) while a message is sent; the time from the send
returning to the receive returning, median and p90 of --samples.

The load generator (boto3) shares the machine's cores with the server, so the
figure is a floor for what the server does.

    python bench/sqs.py [--duration 10] [--repeat 3] [--producers 2] [--consumers 2] [--samples 50]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import threading
import time
from typing import Any

import boto3
from botocore.config import Config
from harness import squall_server


def client(endpoint: str) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, max_pool_connections=4),
    )


def throughput(endpoint: str, url: str, duration: float, producers: int, consumers: int) -> float:
    stop = threading.Event()
    deleted = [0] * consumers
    batch = [{"Id": str(i), "MessageBody": f"message body {i} " + "x" * 64} for i in range(10)]

    def produce() -> None:
        sqs = client(endpoint)
        while not stop.is_set():
            sqs.send_message_batch(QueueUrl=url, Entries=batch)

    def consume(slot: int) -> None:
        sqs = client(endpoint)
        while not stop.is_set():
            msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", []
            )
            if msgs:
                entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]
                sqs.delete_message_batch(QueueUrl=url, Entries=entries)
                deleted[slot] += len(msgs)

    threads = [threading.Thread(target=produce) for _ in range(producers)]
    threads += [threading.Thread(target=consume, args=(i,)) for i in range(consumers)]
    for t in threads:
        t.start()
    time.sleep(1)  # warm-up
    start_count, started = sum(deleted), time.monotonic()
    time.sleep(duration)
    rate = (sum(deleted) - start_count) / (time.monotonic() - started)
    stop.set()
    for t in threads:
        t.join()
    return rate


def _send_later(sender: Any, url: str, sent_at: list[float]) -> None:
    time.sleep(0.05)  # let the receive start waiting
    sender.send_message(QueueUrl=url, MessageBody="wake")
    sent_at.append(time.perf_counter())


def wake_up(endpoint: str, url: str, samples: int) -> list[float]:
    sender, receiver = client(endpoint), client(endpoint)
    out: list[float] = []
    for _ in range(samples):
        sent_at: list[float] = []
        t = threading.Thread(target=_send_later, args=(sender, url, sent_at))
        t.start()
        msgs = receiver.receive_message(QueueUrl=url, WaitTimeSeconds=20)["Messages"]
        got = time.perf_counter()
        t.join()
        receiver.delete_message(QueueUrl=url, ReceiptHandle=msgs[0]["ReceiptHandle"])
        out.append(max(0.0, got - sent_at[0]) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--producers", type=int, default=2)
    ap.add_argument("--consumers", type=int, default=2)
    ap.add_argument("--samples", type=int, default=50)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp, squall_server(f"{tmp}/data") as endpoint:
        sqs = client(endpoint)
        url = sqs.create_queue(QueueName="bench")["QueueUrl"]
        rates = sorted(
            throughput(endpoint, url, args.duration, args.producers, args.consumers)
            for _ in range(args.repeat)
        )
        sqs.purge_queue(QueueUrl=url)
        wake_url = sqs.create_queue(QueueName="bench-wake")["QueueUrl"]
        wake = wake_up(endpoint, wake_url, args.samples)
    print(
        f"squall sqs send+receive+delete (batches of 10, {args.producers} producers, {args.consumers} consumers): "
        f"messages/s median={statistics.median(rates):.0f} (runs: {', '.join(f'{r:.0f}' for r in rates)})"
    )
    wake.sort()
    print(
        f"squall sqs long-poll wake-up after send: median={statistics.median(wake):.2f} ms  "
        f"p90={wake[int(len(wake) * 0.9) - 1]:.2f} ms  (n={len(wake)})"
    )


if __name__ == "__main__":
    main()
