"""kill -9 mid-load: every acknowledged Publish is delivered after the restart (SQS and HTTP)."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

from tests.conftest import start_server
from tests.services.sns.receiver import Receiver

ENV = {"SQUALL_SNS_DELAY_SCALE": "0.05"}  # HTTP retries 1 s apart instead of 20 s


def test_acknowledged_publishes_survive_kill_9(tmp_path: Path) -> None:
    receiver = Receiver()
    receiver.default = 500  # the HTTP endpoint fails until the restart: deliveries stay in the outbox
    data = tmp_path / "data"
    srv = start_server(data, env=ENV)
    try:
        sns, sqs = srv.client("sns"), srv.client("sqs")
        topic = sns.create_topic(Name="durable")["TopicArn"]
        url = sqs.create_queue(QueueName="durable-q")["QueueUrl"]
        qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
        arn = sns.subscribe(
            TopicArn=topic, Protocol="http", Endpoint=receiver.url, ReturnSubscriptionArn=True
        )
        token = receiver.next().json["Token"]
        sns.confirm_subscription(TopicArn=topic, Token=token)
        acked: list[str] = []

        def load() -> None:
            client = srv.client("sns")
            try:
                for i in range(10_000):
                    acked.append(client.publish(TopicArn=topic, Message=f"m{i}")["MessageId"])
            except Exception:  # the server was killed: stop publishing
                return

        worker = threading.Thread(target=load)
        worker.start()
        deadline = time.monotonic() + 30
        while len(acked) < 60 and time.monotonic() < deadline:
            time.sleep(0.01)
        srv.process.send_signal(signal.SIGKILL)
        srv.process.wait()
        worker.join()
        assert len(acked) >= 60, arn
    finally:
        if srv.process.poll() is None:
            srv.stop()
    receiver.default = 200
    srv = start_server(data, env=ENV)
    try:
        sqs = srv.client("sqs")
        in_queue: set[str] = set()
        deadline = time.monotonic() + 30
        while not set(acked) <= in_queue and time.monotonic() < deadline:
            resp = sqs.receive_message(
                QueueUrl=f"{srv.endpoint}/000000000000/durable-q", MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            in_queue |= {json.loads(m["Body"])["MessageId"] for m in resp.get("Messages", [])}
        assert set(acked) <= in_queue
        over_http: set[str] = set()
        deadline = time.monotonic() + 30
        while not set(acked) <= over_http and time.monotonic() < deadline:
            req = receiver.next(timeout=30)
            if req.headers["x-amz-sns-message-type"] == "Notification":
                over_http.add(req.headers["x-amz-sns-message-id"])
        assert set(acked) <= over_http
    finally:
        srv.stop()
        receiver.close()
