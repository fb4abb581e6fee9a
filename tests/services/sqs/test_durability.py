"""A sent message survives a restart of the server (SIGKILL included)."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

from tests.conftest import start_server


def test_messages_survive_kill(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_server(data)
    try:
        sqs = first.client("sqs")
        url = sqs.create_queue(QueueName="durable")["QueueUrl"]
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(5)]
        )
        (inflight,) = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]
    finally:
        first.stop(signal.SIGKILL)
    second = start_server(data)
    try:
        sqs = second.client("sqs")
        url = sqs.get_queue_url(QueueName="durable")["QueueUrl"]
        bodies = set()
        for _ in range(5):
            for msg in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                bodies.add(msg["Body"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
            if len(bodies) == 5:
                break
        assert bodies == {f"m{i}" for i in range(5)}
        assert inflight["Body"] in bodies
    finally:
        second.stop()


def test_kill_mid_load_loses_no_acknowledged_message(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_server(data)
    acked: set[str] = set()
    stop = threading.Event()

    def produce(client: Any, url: str) -> None:
        n = 0
        while not stop.is_set():
            entries = [{"Id": str(i), "MessageBody": f"b{n}-{i}"} for i in range(10)]
            try:
                out = client.send_message_batch(QueueUrl=url, Entries=entries)
            except Exception:  # the server died under us: this batch was not acknowledged
                return
            acked.update(e["MessageId"] for e in out["Successful"])
            n += 1

    try:
        sqs = first.client("sqs")
        url = sqs.create_queue(QueueName="midload")["QueueUrl"]
        producers = [threading.Thread(target=produce, args=(first.client("sqs"), url)) for _ in range(2)]
        for t in producers:
            t.start()
        deadline = time.monotonic() + 10
        while len(acked) < 300 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        first.stop(signal.SIGKILL)
        stop.set()
    for t in producers:
        t.join(10)
    assert len(acked) >= 300
    second = start_server(data)
    try:
        sqs = second.client("sqs")
        url = sqs.get_queue_url(QueueName="midload")["QueueUrl"]
        found: set[str] = set()
        while True:
            msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not msgs:
                break
            found.update(m["MessageId"] for m in msgs)
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)],
            )
        assert acked <= found
    finally:
        second.stop()
