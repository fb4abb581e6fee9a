"""Small bodies live in the store row, larger ones in blob files: both read back alike
(whole, ranges, copies, multipart parts) and are freed on overwrite and delete."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from squall.services.s3.bodies import INLINE_MAX
from squall.storage import SQLiteStore
from tests.conftest import start_server
from tests.services.s3.helpers import new_bucket


@pytest.fixture(scope="module")
def s3(server):  # type: ignore[no-untyped-def]
    return server.client("s3")


def _bodies(data_dir: Path) -> tuple[int, int]:
    """(inline bodies in the store, blob files on disk)."""
    store = SQLiteStore(data_dir / "db" / "squall.db")
    try:
        with store.read() as r:
            inline = r.count("s3.body")
    finally:
        store.close()
    return inline, len([p for p in (data_dir / "blobs").glob("??/*") if p.is_file()])


def _settled(data_dir: Path, want: tuple[int, int]) -> tuple[int, int]:
    deadline = time.monotonic() + 10  # freed bodies are released in the background
    while (got := _bodies(data_dir)) != want and time.monotonic() < deadline:
        time.sleep(0.05)
    return got


@pytest.mark.parametrize("size", [0, 1, INLINE_MAX, INLINE_MAX + 1, 3 * INLINE_MAX])
def test_sizes_around_the_threshold(s3, size: int) -> None:  # type: ignore[no-untyped-def]
    bucket = new_bucket(s3)
    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    etag = s3.put_object(Bucket=bucket, Key="k", Body=body)["ETag"]
    assert etag == f'"{hashlib.md5(body).hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == body
    if size > 10:
        part = s3.get_object(Bucket=bucket, Key="k", Range="bytes=3-9")
        assert part["Body"].read() == body[3:10] and part["ContentRange"] == f"bytes 3-9/{size}"
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "k"})
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == body


def test_multipart_with_inline_parts(s3) -> None:  # type: ignore[no-untyped-def]
    bucket = new_bucket(s3)
    s3.put_object(Bucket=bucket, Key="src", Body=b"0123456789" * 100)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    big = b"B" * (5 << 20)
    p1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=big)
    p2 = s3.upload_part_copy(
        Bucket=bucket, Key="mp", UploadId=upload, PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange="bytes=10-29",
    )  # fmt: skip
    parts = [
        {"PartNumber": 1, "ETag": p1["ETag"]},
        {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]},
    ]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": parts})
    got = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={(5 << 20) - 2}-")["Body"].read()
    assert got == b"BB" + b"0123456789" * 2


def test_small_bodies_stored_inline_and_freed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    srv = start_server(data_dir)
    try:
        s3 = srv.client("s3")
        s3.create_bucket(Bucket="inline-bkt")
        s3.put_object(Bucket="inline-bkt", Key="small", Body=b"s" * 1024)
        s3.put_object(Bucket="inline-bkt", Key="large", Body=b"L" * (INLINE_MAX + 1))
        assert _settled(data_dir, (1, 1)) == (1, 1)
        s3.put_object(Bucket="inline-bkt", Key="small", Body=b"t" * 10)  # overwrite frees the old row
        s3.put_object(Bucket="inline-bkt", Key="large", Body=b"u")  # a blob replaced by an inline body
        assert _settled(data_dir, (2, 0)) == (2, 0)
        assert s3.get_object(Bucket="inline-bkt", Key="large")["Body"].read() == b"u"
        s3.delete_objects(Bucket="inline-bkt", Delete={"Objects": [{"Key": "small"}, {"Key": "large"}]})
        assert _settled(data_dir, (0, 0)) == (0, 0)
    finally:
        srv.stop()
