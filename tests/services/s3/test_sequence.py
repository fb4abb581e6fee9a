"""S3Data's sequence numbers (reserved in blocks) and its PutObject commit path: numbers grow
across transactions, rollbacks and restarts; an overwrite leaves exactly one version and body."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import pytest

from squall.services.s3 import models as m
from squall.services.s3.data import SEQ_BLOCK, S3Data
from squall.services.s3.models import Bucket, ObjectVersion
from squall.storage import DataDir


def _version(key: str, version_id: str = "null") -> ObjectVersion:
    return ObjectVersion(key=key, version_id=version_id, seq=0, last_modified=time.time(), etag='"e"',
                         size=0, parts=[], content_type="binary/octet-stream")  # fmt: skip


def _unstorable(key: str) -> ObjectVersion:
    """A version whose record cannot be encoded: its commit fails after taking its number."""
    return ObjectVersion(key=key, version_id="null", seq=0, last_modified=time.time(),
                         metadata={"bad": object()})  # type: ignore[dict-item]  # fmt: skip


def _bucket(data: S3Data, versioning: str = "") -> Bucket:
    bucket = Bucket("bkt", "000000000000", "us-east-1", time.time(), versioning=versioning)
    data.save_bucket(bucket)
    return bucket


def test_numbers_grow_across_rollbacks_and_restarts(tmp_path: Path) -> None:
    seqs: list[int] = []
    with DataDir.open(tmp_path / "d") as dd:
        data = S3Data(dd.store, dd.blobs)
        bucket = _bucket(data)
        seqs += [data.commit_version(bucket, _version(f"k{i}"), "ObjectCreated:Put").seq for i in range(3)]
        with pytest.raises(TypeError):
            data.commit_version(bucket, _unstorable("x"), "ObjectCreated:Put")
        seqs.append(data.commit_version(bucket, _version("k3"), "ObjectCreated:Put").seq)
        data.close()
    with DataDir.open(tmp_path / "d") as dd:  # a restart reserves a block past every used number
        data = S3Data(dd.store, dd.blobs)
        seqs.append(data.commit_version(_bucket(data), _version("k4"), "ObjectCreated:Put").seq)
        data.close()
    assert seqs == sorted(set(seqs))
    assert seqs[-1] >= seqs[-2] - seqs[-2] % SEQ_BLOCK + SEQ_BLOCK


def test_a_rolled_back_reservation_is_never_reused(tmp_path: Path) -> None:
    """The first number of a fresh block is taken in a transaction that rolls back: its block
    was never persisted, so later transactions must reserve (and persist) their own."""
    with DataDir.open(tmp_path / "d") as dd:
        data = S3Data(dd.store, dd.blobs)
        bucket = _bucket(data)
        with pytest.raises(TypeError):
            data.commit_version(bucket, _unstorable("lost"), "ObjectCreated:Put")
        kept = data.commit_version(bucket, _version("kept"), "ObjectCreated:Put").seq
        with dd.store.read() as r:
            assert r.get(m.CURRENT, m.object_prefix("bkt", "lost")) is None
        data.close()
    with DataDir.open(tmp_path / "d") as dd:
        data = S3Data(dd.store, dd.blobs)
        after = data.commit_version(_bucket(data), _version("next"), "ObjectCreated:Put").seq
        data.close()
    assert after > kept


@pytest.mark.parametrize("versioning", ["", "Suspended"])
def test_overwrite_keeps_one_null_version_and_body(tmp_path: Path, versioning: str) -> None:
    asyncio.run(_overwrite(tmp_path, versioning))


async def _overwrite(tmp_path: Path, versioning: str) -> None:
    with DataDir.open(tmp_path / "d") as dd:
        data = S3Data(dd.store, dd.blobs)
        bucket = _bucket(data, versioning)
        for i in range(3):
            body = await data.write_body(b"v%d" % i, staged=True)
            version = ObjectVersion(key="k", version_id="null", seq=0, last_modified=time.time(),
                                    etag=f'"{body.md5_hex}"', size=body.size, parts=[(body.id, body.size)])  # fmt: skip
            data.commit_version(bucket, version, "ObjectCreated:Put", new_body=body)
        [only] = data.versions("bkt", "k")
        assert data.current("bkt", "k") == only
        assert data.read_body(only.parts[0][0]) == b"v2"
        with dd.store.read() as r:
            assert r.count(m.INLINE) == 1
            assert r.count(m.PENDING) == 0
        data.close()


def test_current_reads_a_small_body_with_its_version(tmp_path: Path) -> None:
    with DataDir.open(tmp_path / "d") as dd:
        data = S3Data(dd.store, dd.blobs)
        bucket = _bucket(data)
        body = asyncio.run(data.write_body(b"hello", staged=True))
        version = replace(_version("k"), size=5, parts=[(body.id, 5)])
        data.commit_version(bucket, version, "ObjectCreated:Put", new_body=body)
        inline: dict[str, bytes] = {}
        found = data.current("bkt", "k", inline)
        assert found is not None and found.parts == [(body.id, 5)]
        assert inline == {body.id: b"hello"}
        assert data.find("bkt", "k", None, inline={}).key == "k"
        data.commit_version(bucket, _version("empty"), "ObjectCreated:Put")
        none: dict[str, bytes] = {}
        assert data.current("bkt", "empty", none) is not None and none == {}
        assert data.current("bkt", "absent", none) is None
        data.close()
