"""Crash safety: kill -9 during a large streamed upload or a burst of PUTs leaves every object
whole or absent, orphan blobs are collected at start, acknowledged objects survive (outbox delivery
across a crash: test_notify_durability.py)."""

from __future__ import annotations

import http.client
import signal
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import orjson
from botocore.config import Config

from squall.storage import SQLiteStore, keys
from tests.conftest import start_server


def _client(endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test", config=Config(retries={"max_attempts": 1}, signature_version="s3v4"),
    )  # fmt: skip


def _blob_files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "blobs").glob("??/*") if p.is_file()]


def test_kill_during_upload_then_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    srv = start_server(data_dir)
    try:
        s3 = _client(srv.endpoint)
        s3.create_bucket(Bucket="crash-bkt")
        s3.put_object(Bucket="crash-bkt", Key="kept", Body=b"committed before the crash")
        url = s3.generate_presigned_url(
            "put_object", Params={"Bucket": "crash-bkt", "Key": "cut"}, ExpiresIn=300
        )
        path = url.split(str(srv.port), 1)[1]
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        conn.putrequest("PUT", path)
        conn.putheader("Content-Length", str(64 << 20))
        conn.endheaders()
        chunk = b"\xab" * (1 << 20)
        for _ in range(24):  # 24 of the 64 MiB promised
            conn.send(chunk)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not list((data_dir / "blobs" / ".tmp").glob("*.part")):
            time.sleep(0.05)
        srv.stop(signal.SIGKILL)
        conn.close()
    finally:
        srv.stop(signal.SIGKILL)

    srv = start_server(data_dir)
    try:
        s3 = _client(srv.endpoint)
        assert s3.get_object(Bucket="crash-bkt", Key="kept")["Body"].read() == b"committed before the crash"
        keys_now = [o["Key"] for o in s3.list_objects_v2(Bucket="crash-bkt").get("Contents", [])]
        assert keys_now == ["kept"]
        assert _blob_files(data_dir) == []  # the orphan (if renamed) was collected ("kept" is inline)
        assert not list((data_dir / "blobs" / ".tmp").glob("*"))
    finally:
        srv.stop()


def test_streamed_put_ignores_max_body_bytes(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", env={"SQUALL_MAX_BODY_BYTES": str(1 << 20)})
    try:
        s3 = _client(srv.endpoint)
        s3.create_bucket(Bucket="limit-bkt")
        body = b"z" * (3 << 20)
        s3.put_object(Bucket="limit-bkt", Key="big", Body=body)
        assert s3.get_object(Bucket="limit-bkt", Key="big")["Body"].read() == body
    finally:
        srv.stop()


def _referenced(data_dir: Path) -> tuple[set[str], list[bytes]]:
    store = SQLiteStore(data_dir / "db" / "squall.db")
    try:
        with store.read() as r:
            ids = {p[0] for _, v in r.scan("s3.ver") for p in orjson.loads(v)["parts"]}
            pending = [k for k, _ in r.scan("s3.pending")]
            inline = {str(keys.unpack(k)[0]) for k, _ in r.scan("s3.body")}
    finally:
        store.close()
    assert inline == {i for i in ids if i.startswith("i")}  # no orphan inline body
    return ids, pending


def _body(writer: int, n: int) -> bytes:
    size = 1000 if n % 3 else 100_000  # inline and blob-file bodies
    return (f"{writer}:{n}:".encode() * (size // 6 + 1))[:size]


def test_kill_during_burst_of_puts(tmp_path: Path) -> None:
    """Every acknowledged PUT survives kill -9 with its bytes; nothing is left orphaned."""
    data_dir = tmp_path / "data"
    srv = start_server(data_dir)
    acked: dict[str, bytes] = {}
    inflight: dict[str, bytes] = {}
    stop = threading.Event()

    def writer(w: int, s3: Any) -> None:
        n = 0
        while not stop.is_set():
            key, body = f"w{w}/k{n % 4}", _body(w, n)
            inflight[key] = body
            try:
                s3.put_object(Bucket="burst", Key=key, Body=body)
            except Exception:
                return
            acked[key] = body
            n += 1

    try:
        _client(srv.endpoint).create_bucket(Bucket="burst")
        clients = [_client(srv.endpoint) for _ in range(6)]  # made here: client creation is not thread-safe
        threads = [threading.Thread(target=writer, args=(w, c)) for w, c in enumerate(clients)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while len(acked) < 24 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        srv.stop(signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join()
    finally:
        stop.set()
        srv.stop(signal.SIGKILL)
    assert len(acked) == 24

    srv = start_server(data_dir)
    try:
        s3 = _client(srv.endpoint)
        for key, body in acked.items():
            got = s3.get_object(Bucket="burst", Key=key)["Body"].read()
            assert got in (body, inflight[key]), key  # the last acknowledged, or the one cut off
    finally:
        srv.stop()
    ids, pending = _referenced(data_dir)
    assert pending == []
    assert {p.name for p in _blob_files(data_dir)} == {i for i in ids if not i.startswith("i")}
