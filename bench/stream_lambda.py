"""DynamoDB stream -> Lambda latency: from a PutItem to the handler's start.

Starts a Squall server with a throwaway data directory, creates a table with a
NEW_AND_OLD_IMAGES stream, a Python function mapped to it (StartingPosition LATEST,
BatchSize 100) and an SQS queue. The benchmark writes --writes items one at a time,
--gap seconds apart (an idle stream: the latency of one change, not of a backlog); each
item carries the client's time.time() just before its PutItem. The handler takes
time.time() first thing and sends, per batch, the differences (handler start - write) to
the queue; the figures are their percentiles (same host, same clock).

    python bench/stream_lambda.py [--writes 200] [--gap 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from typing import Any

from harness import client, handler_zip, squall_server

HANDLER = """
import json, os, time
import boto3

sqs = boto3.client("sqs")


def handler(event, context):
    start = time.time()
    lat = [start - float(r["dynamodb"]["NewImage"]["t"]["N"]) for r in event["Records"] if r["eventName"] == "INSERT"]
    sqs.send_message(QueueUrl=os.environ["QUEUE_URL"], MessageBody=json.dumps(lat))
"""


def setup(c: dict[str, Any], name: str) -> str:
    url: str = c["sqs"].create_queue(QueueName=name)["QueueUrl"]
    table = c["dynamodb"].create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    c["dynamodb"].get_waiter("table_exists").wait(TableName=name)
    c["lambda"].create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role="arn:aws:iam::000000000000:role/bench",
        Handler="app.handler",
        Code={"ZipFile": handler_zip(HANDLER)},
        Environment={"Variables": {"QUEUE_URL": url}},
    )
    c["lambda"].get_waiter("function_active_v2").wait(FunctionName=name)
    uuid = c["lambda"].create_event_source_mapping(
        FunctionName=name, EventSourceArn=table["LatestStreamArn"], StartingPosition="LATEST", BatchSize=100
    )["UUID"]
    while c["lambda"].get_event_source_mapping(UUID=uuid)["State"] != "Enabled":
        time.sleep(0.1)
    time.sleep(1.5)  # the poller resolves LATEST
    return url


def collect(sqs: Any, url: str, want: int, timeout: float = 60.0) -> list[float]:
    out: list[float] = []
    deadline = time.monotonic() + timeout
    while len(out) < want and time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        for m in got:
            out += json.loads(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def run(endpoint: str, writes: int, gap: float) -> None:
    c = {name: client(endpoint, name) for name in ("lambda", "dynamodb", "sqs")}
    name = f"streambench-{os.getpid()}"
    url = setup(c, name)
    warm = 20  # the first invocations pay the cold start
    for i in range(warm + writes):
        c["dynamodb"].put_item(TableName=name, Item={"pk": {"S": f"k{i}"}, "t": {"N": repr(time.time())}})
        time.sleep(gap)
    lat = [x * 1000 for x in collect(c["sqs"], url, warm + writes)[warm:]]
    if not lat:
        print("no records reached the handler")
        return
    q = statistics.quantiles(lat, n=100)
    print(
        f"write -> handler start over {len(lat)} writes ({gap * 1000:.0f} ms apart): "
        f"p50 {statistics.median(lat):.1f} ms, p90 {q[89]:.1f} ms, p99 {q[98]:.1f} ms, max {max(lat):.1f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description="DynamoDB stream -> Lambda latency")
    ap.add_argument("--writes", type=int, default=200)
    ap.add_argument("--gap", type=float, default=0.05)
    ap.add_argument("--workers", type=int, default=0, help="squall up --workers N (0: its default)")
    args = ap.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as data, squall_server(data, args.workers) as endpoint:
        run(endpoint, args.writes, args.gap)


if __name__ == "__main__":
    main()
