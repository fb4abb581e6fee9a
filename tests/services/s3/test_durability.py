"""Crash safety: kill -9 during a large streamed upload leaves the object whole or absent,
orphan blobs are collected at start, committed objects survive (outbox delivery across a crash:
test_notify_durability.py)."""

from __future__ import annotations

import http.client
import signal
import time
from pathlib import Path

import boto3
from botocore.config import Config

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
        assert len(_blob_files(data_dir)) == 1  # the orphan (if renamed) was collected, temp files removed
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
