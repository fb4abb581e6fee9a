"""`squall up --workers 2`: a worker process serves DynamoDB item operations on another core
and forwards everything else to the primary; both processes' writes are serialised and seen
by the other, stream records written in a worker reach the primary's pollers, a worker dies
with the primary and is replaced when it dies alone."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import RunningServer, start_server

CONNECTIONS = 24  # fresh connections: each lands on the primary or the worker (SO_REUSEPORT)


def _workers(server: RunningServer) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if b"squall.worker" in cmd and ppid == server.process.pid:
            pids.append(int(entry.name))
    return pids


def _listeners(port: int) -> int:
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


def _wait_for_worker(server: RunningServer, old: frozenset[int] = frozenset()) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        fresh = [p for p in _workers(server) if p not in old]
        if fresh and _listeners(server.port) >= 2:
            return fresh[0]
        time.sleep(0.1)
    raise AssertionError(f"no worker came up:\n{server.log()}")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = start_server(tmp_path_factory.mktemp("workers") / "data", "--workers", "2")
    _wait_for_worker(srv)
    yield srv
    srv.stop()


def _clients(server: RunningServer, service: str, **kw: Any) -> list[Any]:
    return [server.client(service, max_pool_connections=1, **kw) for _ in range(CONNECTIONS)]


def _table(ddb: Any, name: str, key: str, kind: str) -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": kind}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2})


def test_reads_see_every_write_whichever_process_serves_them(pair: RunningServer) -> None:
    ddb = pair.client("dynamodb")
    _table(ddb, "wk-rw", "k", "S")
    clients = _clients(pair, "dynamodb")

    def round_trip(i: int) -> None:
        c = clients[i]
        for n in range(5):
            c.put_item(TableName="wk-rw", Item={"k": {"S": f"c{i}"}, "n": {"N": str(n)}})
            got = c.get_item(TableName="wk-rw", Key={"k": {"S": f"c{i}"}}, ConsistentRead=True)
            assert got["Item"]["n"] == {"N": str(n)}
        page = c.query(
            TableName="wk-rw",
            KeyConditionExpression="k = :k",
            ExpressionAttributeValues={":k": {"S": f"c{i}"}},
        )
        assert page["Count"] == 1
        # a table operation on a connection a worker serves goes to the primary (Forwarder)
        assert c.describe_table(TableName="wk-rw")["Table"]["TableStatus"] == "ACTIVE"

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(round_trip, range(CONNECTIONS)))
    scan = ddb.scan(TableName="wk-rw", Select="COUNT")
    assert scan["Count"] == CONNECTIONS


def test_a_worker_answers_reads_while_the_primary_is_stopped(pair: RunningServer) -> None:
    ddb = pair.client("dynamodb")
    _table(ddb, "wk-frozen", "k", "S")
    ddb.put_item(TableName="wk-frozen", Item={"k": {"S": "a"}, "v": {"S": "written by the primary"}})
    clients = _clients(pair, "dynamodb", read_timeout=2, connect_timeout=2)

    def get(c: Any) -> Any:
        try:
            return c.get_item(TableName="wk-frozen", Key={"k": {"S": "a"}})["Item"]["v"]["S"]
        except Exception as exc:  # the primary's share of the connections times out
            return exc

    def put_then_get(c: Any) -> Any:
        try:
            c.put_item(TableName="wk-frozen", Item={"k": {"S": "b"}, "v": {"S": "by the worker"}})
            return c.get_item(TableName="wk-frozen", Key={"k": {"S": "b"}})["Item"]["v"]["S"]
        except Exception as exc:
            return exc

    os.kill(pair.process.pid, signal.SIGSTOP)
    try:
        with ThreadPoolExecutor(CONNECTIONS) as pool:
            results = list(pool.map(get, clients))
            written = list(pool.map(put_then_get, clients))
    finally:
        os.kill(pair.process.pid, signal.SIGCONT)
    served = [r for r in results if isinstance(r, str)]
    assert served, results  # P(no connection lands on the worker) = 2**-24
    assert set(served) == {"written by the primary"}
    assert "by the worker" in written, written
    got = ddb.get_item(TableName="wk-frozen", Key={"k": {"S": "b"}})  # the primary sees it
    assert got["Item"]["v"] == {"S": "by the worker"}


def test_concurrent_updates_from_both_processes_lose_nothing(pair: RunningServer) -> None:
    ddb = pair.client("dynamodb")
    _table(ddb, "wk-counter", "k", "S")
    clients = _clients(pair, "dynamodb")

    def bump(c: Any) -> None:
        for _ in range(10):
            c.update_item(
                TableName="wk-counter",
                Key={"k": {"S": "n"}},
                UpdateExpression="ADD n :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )

    with ThreadPoolExecutor(CONNECTIONS) as pool:
        list(pool.map(bump, clients))
    item = ddb.get_item(TableName="wk-counter", Key={"k": {"S": "n"}}, ConsistentRead=True)["Item"]
    assert item["n"] == {"N": str(10 * CONNECTIONS)}


def test_stream_records_of_writes_in_either_process_are_in_order(pair: RunningServer) -> None:
    ddb = pair.client("dynamodb")
    ddb.create_table(
        TableName="wk-stream",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    ddb.get_waiter("table_exists").wait(TableName="wk-stream", WaiterConfig={"Delay": 0.2})
    arn = ddb.describe_table(TableName="wk-stream")["Table"]["LatestStreamArn"]
    for i, c in enumerate(_clients(pair, "dynamodb")):
        c.put_item(TableName="wk-stream", Item={"k": {"S": "one"}, "v": {"N": str(i)}})
    streams = pair.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=it["ShardIterator"])["Records"]
    assert [r["dynamodb"]["NewImage"]["v"]["N"] for r in records] == [str(i) for i in range(CONNECTIONS)]
    assert [r["eventName"] for r in records] == ["INSERT"] + ["MODIFY"] * (CONNECTIONS - 1)
    olds = [r["dynamodb"].get("OldImage", {}).get("v", {}).get("N") for r in records]
    assert olds == [None] + [str(i) for i in range(CONNECTIONS - 1)]


def test_a_recreated_table_is_seen_by_the_worker_at_once(pair: RunningServer) -> None:
    """The worker caches table descriptions; the primary's commits invalidate them."""
    ddb = pair.client("dynamodb")
    _table(ddb, "wk-schema", "k", "S")
    ddb.put_item(TableName="wk-schema", Item={"k": {"S": "x"}})
    clients = _clients(pair, "dynamodb")
    for c in clients:  # every connection, on either process, caches the first schema
        assert c.get_item(TableName="wk-schema", Key={"k": {"S": "x"}})["Item"] == {"k": {"S": "x"}}
    ddb.delete_table(TableName="wk-schema")
    ddb.get_waiter("table_not_exists").wait(TableName="wk-schema", WaiterConfig={"Delay": 0.2})
    _table(ddb, "wk-schema", "id", "N")
    ddb.put_item(TableName="wk-schema", Item={"id": {"N": "7"}})
    for c in clients:
        assert c.get_item(TableName="wk-schema", Key={"id": {"N": "7"}})["Item"] == {"id": {"N": "7"}}
        with pytest.raises(ClientError) as err:
            c.get_item(TableName="wk-schema", Key={"k": {"S": "x"}})
        assert err.value.response["Error"]["Code"] == "ValidationException"


def test_other_services_are_forwarded_with_bodies_errors_and_head(pair: RunningServer) -> None:
    s3 = pair.client("s3")
    s3.create_bucket(Bucket="wk-bucket")
    body = os.urandom(3 * 1024 * 1024 + 17)
    sqs = pair.client("sqs")
    url = sqs.create_queue(QueueName="wk-queue")["QueueUrl"]

    def use(i: int) -> None:
        c = pair.client("s3", max_pool_connections=1)
        c.put_object(Bucket="wk-bucket", Key=f"obj-{i}", Body=body)
        assert c.get_object(Bucket="wk-bucket", Key=f"obj-{i}")["Body"].read() == body
        assert c.head_object(Bucket="wk-bucket", Key=f"obj-{i}")["ContentLength"] == len(body)
        ranged = c.get_object(Bucket="wk-bucket", Key=f"obj-{i}", Range="bytes=10-19")
        assert ranged["Body"].read() == body[10:20]
        with pytest.raises(ClientError) as err:
            c.get_object(Bucket="wk-bucket", Key="missing")
        assert err.value.response["Error"]["Code"] == "NoSuchKey"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        q = pair.client("sqs", max_pool_connections=1)
        q.send_message(QueueUrl=url, MessageBody=f"m{i}")
        identity = pair.client("sts", max_pool_connections=1).get_caller_identity()
        assert identity["Account"] == "000000000000"

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(use, range(12)))
    seen = set()
    deadline = time.monotonic() + 10
    while len(seen) < 12 and time.monotonic() < deadline:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            seen.add(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert seen == {f"m{i}" for i in range(12)}


def test_session_credentials_work_on_the_worker(pair: RunningServer) -> None:
    sts = pair.client("sts")
    creds = sts.assume_role(RoleArn="arn:aws:iam::000000000000:role/wk", RoleSessionName="wk-session")[
        "Credentials"
    ]
    ddb = pair.client("dynamodb")
    _table(ddb, "wk-session", "k", "S")
    ddb.put_item(TableName="wk-session", Item={"k": {"S": "a"}})
    for _ in range(CONNECTIONS):
        c = pair.client(
            "dynamodb",
            access_key=creds["AccessKeyId"],
            secret=creds["SecretAccessKey"],
            session_token=creds["SessionToken"],
            max_pool_connections=1,
        )
        assert c.get_item(TableName="wk-session", Key={"k": {"S": "a"}})["Item"] == {"k": {"S": "a"}}


def test_a_dead_worker_is_replaced_and_workers_die_with_the_server_and_errors_pass_through(
    tmp_path: Path,
) -> None:
    srv = start_server(tmp_path / "data", "--workers", "2", "--max-body-bytes", "1000000")
    try:
        first = _wait_for_worker(srv)
        for _ in range(8):  # refused by the primary before it read the body, through either process
            with pytest.raises(ClientError) as err:
                srv.client("lambda", max_pool_connections=1).create_function(
                    FunctionName="too-big",
                    Runtime="python3.11",
                    Role="arn:aws:iam::000000000000:role/r",
                    Handler="a.h",
                    Code={"ZipFile": os.urandom(3 << 20)},
                )
            assert err.value.response["Error"]["Code"] == "RequestEntityTooLarge"
        os.kill(first, signal.SIGKILL)
        second = _wait_for_worker(srv, frozenset({first}))
        assert second != first
        ddb = srv.client("dynamodb")
        _table(ddb, "wk-restart", "k", "S")
        assert ddb.get_item(TableName="wk-restart", Key={"k": {"S": "none"}}).get("Item") is None
    finally:
        srv.stop(signal.SIGKILL)  # no chance to stop the worker itself: PR_SET_PDEATHSIG must
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.path.exists(f"/proc/{second}"):
        try:
            if (Path(f"/proc/{second}") / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break
        except OSError:
            break
        time.sleep(0.1)
    alive = (
        os.path.exists(f"/proc/{second}")
        and "Z" not in Path(f"/proc/{second}/stat").read_text().rsplit(")", 1)[1].split()[0]
    )
    assert not alive, "the worker outlived its server"


@pytest.mark.parametrize(
    ("head", "local"),
    [
        (b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.GetItem", True),
        (b"POST / HTTP/1.1\r\nx-amz-target:dynamodb_20120810.putitem\r\nA: b", True),
        (b"POST / HTTP/1.1\r\nX-Amz-Target: DynamoDB_20120810.CreateTable\r\nA: b", False),
        (b"POST / HTTP/1.1\r\nX-Amz-Target: AmazonSQS.SendMessage", False),
        (b"GET / HTTP/1.1\r\nX-Amz-Target: DynamoDB_20120810.GetItem", False),
        (b"POST /2015-03-31/functions/f/invocations HTTP/1.1\r\nHost: x", False),
    ],
)
def test_which_connections_a_worker_keeps(head: bytes, local: bool) -> None:
    from squall.services.dynamodb.provider import DynamoDBProvider
    from squall.worker import _local_head, worker_targets

    assert _local_head(worker_targets([DynamoDBProvider]))(head) is local
