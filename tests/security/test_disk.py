"""Disk exhaustion (issue 13, item 8): a WAL that grew to 1.6 GB under load and was never
truncated; a full disk that made restart fail and writes answer `InternalFailure`."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from tests.conftest import start_server

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
