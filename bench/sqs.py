"""SQS throughput (send + receive + delete with batch calls) and long-poll wake-up.

Starts a Squall server with a throwaway data directory. --producers processes
send batches of 10 (SendMessageBatch); --consumers processes receive up to 10
(ReceiveMessage, long polling) and delete them in one DeleteMessageBatch.
messages/s counts messages deleted over --duration seconds after a 1 s
warm-up; the median of --repeat runs is printed. The load generators are
separate processes with a light client (http.client keep-alive, botocore's
SigV4 signer, JSON): boto3's per-call overhead would otherwise be the limit.
They share the 2 cores with the server, so the figure is a floor.

Long-poll wake-up: a receiver waits (WaitTimeSeconds=20) while another
connection sends one message; the time from the send call starting to the
receive returning (median and p90 of --samples) — an upper bound, as it
includes the SendMessage request itself.

Unless --no-baseline, the same measurements run against moto in server mode
(`python -m moto.server`, the `moto[server]` package) and the ratio is printed.

    python bench/sqs.py [--duration 10] [--repeat 3] [--producers 1] [--consumers 2] [--samples 50]
                        [--no-baseline]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing as mp
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from harness import free_port, squall_server, wait_up


class Client:
    """Signed SQS JSON calls over one keep-alive connection."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        parts = urlsplit(endpoint)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)
        self.auth = SigV4Auth(Credentials("test", "test"), "sqs", "us-east-1")

    def call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"AmazonSQS.{operation}"}
        req = AWSRequest(method="POST", url=self.endpoint + "/", data=body, headers=headers)
        self.auth.add_auth(req)
        self.conn.request("POST", "/", body, dict(req.headers.items()))
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{operation}: {resp.status} {data[:200]!r}")
        return json.loads(data) if data else {}


def produce(endpoint: str, url: str, stop: Any) -> None:
    sqs = Client(endpoint)
    entries = [{"Id": str(i), "MessageBody": f"message body {i} " + "x" * 64} for i in range(10)]
    while not stop.is_set():
        sqs.call("SendMessageBatch", {"QueueUrl": url, "Entries": entries})


def consume(endpoint: str, url: str, stop: Any, deleted: Any) -> None:
    sqs = Client(endpoint)
    while not stop.is_set():
        got = sqs.call("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1})
        msgs = got.get("Messages", [])
        if msgs:
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]
            sqs.call("DeleteMessageBatch", {"QueueUrl": url, "Entries": entries})
            with deleted.get_lock():
                deleted.value += len(msgs)


def throughput(endpoint: str, url: str, duration: float, producers: int, consumers: int) -> float:
    stop, deleted = mp.Event(), mp.Value("q", 0)
    procs = [mp.Process(target=produce, args=(endpoint, url, stop)) for _ in range(producers)]
    procs += [mp.Process(target=consume, args=(endpoint, url, stop, deleted)) for _ in range(consumers)]
    for p in procs:
        p.start()
    time.sleep(1)  # warm-up
    first, started = deleted.value, time.monotonic()
    time.sleep(duration)
    rate = (deleted.value - first) / (time.monotonic() - started)
    stop.set()
    for p in procs:
        p.join(30)
    return float(rate)


def _send_later(endpoint: str, url: str, sent_at: list[float]) -> None:
    sender = Client(endpoint)
    time.sleep(0.05)  # let the receive start waiting
    sent_at.append(time.perf_counter())
    sender.call("SendMessage", {"QueueUrl": url, "MessageBody": "wake"})


def wake_up(endpoint: str, url: str, samples: int) -> list[float]:
    receiver = Client(endpoint)
    out: list[float] = []
    for _ in range(samples):
        sent_at: list[float] = []
        t = threading.Thread(target=_send_later, args=(endpoint, url, sent_at))
        t.start()
        msgs = receiver.call("ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 20})["Messages"]
        got = time.perf_counter()
        t.join()
        receiver.call("DeleteMessage", {"QueueUrl": url, "ReceiptHandle": msgs[0]["ReceiptHandle"]})
        out.append((got - sent_at[0]) * 1000)
    return out


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    port = free_port()
    cmd = [sys.executable, "-m", "moto.server", "-p", str(port)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_up(f"http://127.0.0.1:{port}/moto-api/")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(15)


def measure(endpoint: str, args: argparse.Namespace) -> tuple[list[float], list[float]]:
    """(messages/s of each run, sorted; wake-up ms of each sample, sorted)."""
    url = Client(endpoint).call("CreateQueue", {"QueueName": "bench"})["QueueUrl"]
    rates = sorted(
        throughput(endpoint, url, args.duration, args.producers, args.consumers) for _ in range(args.repeat)
    )
    # a fresh connection: servers drop keep-alive connections left idle
    wake_url = Client(endpoint).call("CreateQueue", {"QueueName": "bench-wake"})["QueueUrl"]
    return rates, sorted(wake_up(endpoint, wake_url, args.samples))


def report(label: str, rates: list[float], wake: list[float], args: argparse.Namespace) -> None:
    print(
        f"{label} sqs send+receive+delete, batches of 10 ({args.producers} producer, {args.consumers} consumer "
        f"processes): messages/s median={statistics.median(rates):.0f} "
        f"(runs: {', '.join(f'{r:.0f}' for r in rates)})"
    )
    print(
        f"{label} sqs long-poll wake-up after send: median={statistics.median(wake):.2f} ms  "
        f"p90={wake[max(0, int(len(wake) * 0.9) - 1)]:.2f} ms  (n={len(wake)})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description="SQS send+receive+delete throughput and long-poll wake-up")
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--producers", type=int, default=1)
    ap.add_argument("--consumers", type=int, default=2)
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp, squall_server(f"{tmp}/data") as endpoint:
        rates, wake = measure(endpoint, args)
    report("squall", rates, wake, args)
    if args.no_baseline:
        return
    with moto_server() as endpoint:
        moto_rates, moto_wake = measure(endpoint, args)
    report("moto", moto_rates, moto_wake, args)
    print(
        f"ratio squall/moto: throughput {statistics.median(rates) / max(statistics.median(moto_rates), 1e-9):.1f}x, "
        f"wake-up {statistics.median(moto_wake) / max(statistics.median(wake), 1e-9):.1f}x faster"
    )


if __name__ == "__main__":
    main()
