"""Disk exhaustion (issue 13, item 8): a WAL that grew to 1.6 GB under load and was never
truncated; a full disk that made restart fail and writes answer `InternalFailure`."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import RunningServer, start_server

MB = 1024 * 1024


def wal_size(data_dir: Path) -> int:
    try:
        return os.stat(data_dir / "db" / "squall.db-wal").st_size
    except FileNotFoundError:
        return 0


def test_sustained_writes_keep_the_wal_bounded(tmp_path: Path) -> None:
    """Four writers and two readers of DynamoDB items for 40 MB of writes: the WAL stays under
    a small multiple of its 1 MiB limit (it grew with everything written before), and is
    truncated once the load stops."""
    limit = MB
    srv = start_server(tmp_path / "data", env={"SQUALL_WAL_LIMIT": str(limit)})
    try:
        ddb = srv.client("dynamodb")
        ddb.create_table(
            TableName="load",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        stop = threading.Event()
        value = "x" * 4000

        def write(i: int) -> None:
            client = srv.client("dynamodb")
            for n in range(2500):
                client.put_item(TableName="load", Item={"pk": {"S": f"{i}-{n % 300}"}, "v": {"S": value}})

        def read() -> None:
            client = srv.client("dynamodb")
            while not stop.is_set():
                client.get_item(TableName="load", Key={"pk": {"S": "0-1"}})

        writers = [threading.Thread(target=write, args=(i,)) for i in range(4)]
        readers = [threading.Thread(target=read) for _ in range(2)]
        for t in (*writers, *readers):
            t.start()
        worst = 0
        while any(t.is_alive() for t in writers):
            worst = max(worst, wal_size(srv.data_dir))
            time.sleep(0.01)
        stop.set()
        for t in readers:
            t.join()
        assert worst <= 4 * limit, f"the WAL reached {worst / MB:.1f} MiB (limit {limit / MB:.0f} MiB)"
        deadline = time.monotonic() + 10
        while wal_size(srv.data_dir) > limit:
            assert time.monotonic() < deadline, "the WAL was not truncated after the load"
            ddb.put_item(TableName="load", Item={"pk": {"S": "tick"}, "v": {"S": "x"}})
            time.sleep(0.1)
        print(f"worst WAL size under load: {worst / MB:.2f} MiB (limit {limit / MB:.0f} MiB)")
    finally:
        srv.stop()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs to hold the data directory (the server's log stays outside it)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(path: Path) -> None:
    """Write zeros to `path` until the disk says ENOSPC."""
    with open(path, "ab", buffering=0) as f:
        for size in (1 << 20, 4096, 512):
            with contextlib.suppress(OSError):
                while True:
                    f.write(bytes(size))


def error_of(call: Callable[..., Any], **kw: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        call(**kw)
    return info.value.response["Error"]["Code"], info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def eventually(write: Callable[[], Any], timeout: float = 10) -> None:
    """`write` succeeds within `timeout` s (each process of the server looks at the free
    space again within half a second)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            write()
            return
        except ClientError:
            assert time.monotonic() < deadline, "writes were still refused after space returned"
            time.sleep(0.1)


def clients(srv: RunningServer) -> tuple[Any, Any, Any]:
    return srv.client("dynamodb"), srv.client("s3"), srv.client("sqs")


def assert_read_only(srv: RunningServer, queue: str) -> None:
    """Reads answer; each service refuses writes with its own transient server error."""
    ddb, s3, sqs = clients(srv)
    assert ddb.get_item(TableName="t", Key={"pk": {"S": "before"}})["Item"]["v"] == {"S": "kept"}
    assert s3.get_object(Bucket="full-disk", Key="before")["Body"].read() == b"kept" * 1000
    assert sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    item = {"pk": {"S": "during"}, "v": {"S": "x" * 50_000}}
    assert error_of(ddb.put_item, TableName="t", Item=item) == ("InternalServerError", 500)
    assert error_of(s3.put_object, Bucket="full-disk", Key="during", Body=b"y" * 300_000) == (
        "ServiceUnavailable",
        503,
    )
    assert error_of(sqs.send_message, QueueUrl=queue, MessageBody="during" * 1000) == (
        "ServiceUnavailable",
        503,
    )


def test_full_disk_read_only_then_restart_then_writable(small_disk: Path) -> None:
    srv = start_server(small_disk)
    try:
        ddb, s3, sqs = clients(srv)
        ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.put_item(TableName="t", Item={"pk": {"S": "before"}, "v": {"S": "kept"}})
        s3.create_bucket(Bucket="full-disk")
        s3.put_object(Bucket="full-disk", Key="before", Body=b"kept" * 1000)
        queue = sqs.create_queue(QueueName="full-disk")["QueueUrl"]
        sqs.send_message(QueueUrl=queue, MessageBody="kept")
        fill(small_disk / "ballast")
        assert_read_only(srv, queue)
    finally:
        assert srv.stop() == 0, srv.log()
    fill(small_disk / "ballast-2")  # whatever the stop freed
    srv = start_server(small_disk)  # once: server.json ENOSPC, start-up failed
    try:
        assert_read_only(srv, queue)
        (small_disk / "ballast").unlink()
        (small_disk / "ballast-2").unlink()
        ddb, s3, sqs = clients(srv)
        eventually(lambda: ddb.put_item(TableName="t", Item={"pk": {"S": "after"}, "v": {"S": "x"}}))
        eventually(lambda: s3.put_object(Bucket="full-disk", Key="after", Body=b"z"))
        eventually(lambda: sqs.send_message(QueueUrl=queue, MessageBody="after"))
        # nothing accepted before the disk filled was lost; nothing refused was kept
        assert ddb.get_item(TableName="t", Key={"pk": {"S": "before"}})["Item"]["v"] == {"S": "kept"}
        assert "Item" not in ddb.get_item(TableName="t", Key={"pk": {"S": "during"}})
        assert s3.get_object(Bucket="full-disk", Key="before")["Body"].read() == b"kept" * 1000
        assert error_of(s3.head_object, Bucket="full-disk", Key="during")[1] == 404
        bodies: list[str] = []
        deadline = time.monotonic() + 10
        while len(bodies) < 2 and time.monotonic() < deadline:
            got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            bodies += [m["Body"] for m in got.get("Messages", [])]
        assert sorted(bodies) == ["after", "kept"]
        assert (small_disk / "server.json").exists()
    finally:
        srv.stop()


def test_unpacking_code_on_a_full_disk_is_a_full_disk_not_a_bad_zip(small_disk: Path) -> None:
    """An 80 MB (unzipped) package on a 64 MiB disk: `StorageFull` (Lambda answers its
    ServiceException, retryable), not InvalidZipFileException; nothing half-unpacked stays."""
    import io
    import zipfile

    from squall.engine.codecache import CodeCache
    from squall.storage import StorageFull

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("index.py", "def handler(e, c):\n    return 1\n")
        z.writestr("big.bin", bytes(80 * MB))
    cache = CodeCache(small_disk / "code")
    with pytest.raises(StorageFull):
        cache.path("ab" * 32, buf.getvalue)
    assert list((small_disk / "code").iterdir()) == []
