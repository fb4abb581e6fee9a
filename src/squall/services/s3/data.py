"""S3 state over the store and the blob area: buckets, object versions, bodies.

Write protocol for a body (crash-safe, see storage/README.md):
1. commit an intent `s3.pending[blob id]`;
2. stream the body into the blob (temp file, fsync, rename);
3. commit the version record (and drop the intent, and write the outbox
   event) in one transaction;
4. delete the blobs of versions that transaction replaced.

After `kill -9` between 1 and 3 the intent names an orphan blob (or a temp
file, which `BlobStore` removes on open): `collect_orphans` at start-up deletes
them. An object is therefore fully there or absent. Dropping a reference
(overwrite, delete, abort) records an intent for the freed blobs in the same
transaction, so a crash before their deletion cannot leak them either.

Blob I/O runs on a dedicated thread pool (fsyncs in parallel, the event loop
never blocks on the disk); a streamed body is written in ~1 MiB batches while
the next batch arrives (MD5 and the write release the GIL).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import orjson

from squall.protocol.errors import ServiceError
from squall.services.s3 import models as m
from squall.services.s3.models import Bucket, ObjectEvent, ObjectVersion
from squall.services.s3.notify_config import targets_for
from squall.storage import BlobStore, Store, WriteTxn, keys
from squall.storage.blobs import BlobWriter

log = logging.getLogger("squall.s3")
_BATCH_BYTES = 1 << 20
_VERSION_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


class S3Data:
    def __init__(self, store: Store, blobs: BlobStore, io_threads: int = 32) -> None:
        self.store = store
        self.blobs = blobs
        self._io = ThreadPoolExecutor(io_threads, thread_name_prefix="s3-io")
        #: Called after a transaction that queued an outbox record (the notifier's wake-up).
        self.on_event: Callable[[], None] | None = None

    def close(self) -> None:
        """Finish pending blob deletions and stop the I/O threads."""
        self._io.shutdown(wait=True)

    # --- buckets ---

    def bucket(self, name: str, account: str | None = None) -> Bucket:
        """The bucket, or NoSuchBucket. (Access across accounts is not checked yet.)"""
        with self.store.read() as r:
            raw = r.get(m.BUCKETS, m.bucket_key(name))
        if raw is None:
            raise m.no_such_bucket(name)
        return Bucket.load(raw)

    def save_bucket(self, bucket: Bucket) -> None:
        with self.store.write() as w:
            w.put(m.BUCKETS, m.bucket_key(bucket.name), bucket.dump())

    # --- bodies ---

    async def write_body(
        self, body: AsyncIterable[bytes | memoryview] | bytes, limit: int = m.MAX_PUT_BYTES
    ) -> BlobWriter:
        """Stream `body` into a new blob (committed to disk, referenced by an intent
        record until `commit_version` or `release` takes it over). Raises
        EntityTooLarge past `limit` bytes; on any error nothing is left behind."""
        loop = asyncio.get_running_loop()
        writer = self.blobs.begin()
        with self.store.write() as w:
            w.put(m.PENDING, keys.pack(writer.id), b"")
        inflight: asyncio.Future[None] | None = None
        try:
            if isinstance(body, bytes):
                writer.write(body)
            else:
                batch: list[bytes | memoryview] = []
                batched = received = 0
                async for piece in body:
                    received += len(piece)
                    if received > limit:
                        raise ServiceError(
                            "EntityTooLarge",
                            "Your proposed upload exceeds the maximum allowed size",
                            400,
                            fields={"ProposedSize": received, "MaxSizeAllowed": limit},
                        )
                    batch.append(piece)
                    batched += len(piece)
                    if batched >= _BATCH_BYTES:
                        if inflight is not None:
                            await inflight
                        inflight = loop.run_in_executor(self._io, _write_all, writer, batch)
                        batch, batched = [], 0
                if inflight is not None:
                    await inflight
                    inflight = None
                _write_all(writer, batch)
            await loop.run_in_executor(self._io, writer.commit)
        except BaseException:
            if inflight is not None:
                await asyncio.wait([inflight])
            writer.abort()
            self.release([writer.id])
            raise
        return writer

    def release_soon(self, blob_ids: Sequence[str]) -> None:
        """`release` on the I/O threads (the blobs already have intents: see `drop`)."""
        if blob_ids:
            future: Future[None] = self._io.submit(self.release, list(blob_ids))
            future.add_done_callback(_log_failure)

    @staticmethod
    def drop(w: WriteTxn, blob_ids: Iterable[str]) -> list[str]:
        """Record intents for blobs a transaction stops referencing; `release_soon` them after it."""
        ids = list(blob_ids)
        for blob_id in ids:
            w.put(m.PENDING, keys.pack(blob_id), b"")
        return ids

    def release(self, blob_ids: Iterable[str]) -> None:
        """Delete blobs nothing references any more (and their intents)."""
        ids = list(blob_ids)
        for blob_id in ids:
            self.blobs.delete(blob_id)
        if ids:
            with self.store.write() as w:
                for blob_id in ids:
                    w.delete(m.PENDING, keys.pack(blob_id))

    def collect_orphans(self) -> int:
        """Delete blobs whose upload never committed (crash between steps 1 and 3)."""
        with self.store.read() as r:
            pending = [keys.unpack(k)[0] for k, _ in r.scan(m.PENDING)]
        for blob_id in pending:
            self.blobs.delete(str(blob_id))
        with self.store.write() as w:
            for blob_id in pending:
                w.delete(m.PENDING, keys.pack(blob_id))
        return len(pending)

    # --- versions ---

    def current(self, bucket: str, key: str) -> ObjectVersion | None:
        with self.store.read() as r:
            raw = r.get(m.CURRENT, m.object_prefix(bucket, key))
        return ObjectVersion.load(raw) if raw is not None else None

    def versions(self, bucket: str, key: str) -> list[ObjectVersion]:
        with self.store.read() as r:
            return [
                ObjectVersion.load(v) for _, v in r.scan(m.VERSIONS, prefix=m.versions_prefix(bucket, key))
            ]

    def find(self, bucket: str, key: str, version_id: str | None) -> ObjectVersion:
        """The current version (NoSuchKey), or the version asked for (NoSuchVersion;
        a malformed id is InvalidArgument as on AWS)."""
        if version_id is None:
            found = self.current(bucket, key)
            if found is None:
                raise m.no_such_key(key)
            return found
        for version in self.versions(bucket, key):
            if version.version_id == version_id:
                return version
        if not version_id or not set(version_id) <= _VERSION_ID_CHARS:
            raise m.invalid_argument("Invalid version id specified", "versionId", version_id)
        raise m.no_such_version(key, version_id)

    def new_version_id(self, bucket: Bucket) -> str:
        return secrets.token_urlsafe(24) if bucket.versioning == "Enabled" else "null"

    def commit_version(
        self,
        bucket: Bucket,
        version: ObjectVersion,
        event: str,
        also: Callable[[WriteTxn], list[str]] | None = None,
    ) -> ObjectVersion:
        """Make `version` (its seq filled in here) the newest of its key, in one
        transaction with its outbox event (and `also`, which returns blobs it
        dropped); then free what it replaced (the old "null" version, outside
        versioned buckets)."""
        dropped: list[str] = []
        with self.store.write() as w:
            if also is not None:
                dropped.extend(also(w))
            seq = w.next_sequence(m.SEQUENCE)
            version = _with_seq(version, seq)
            if version.version_id == "null":
                dropped.extend(self._drop_null(w, bucket.name, version.key))
            w.put(m.VERSIONS, m.version_key(bucket.name, version.key, seq), version.dump())
            cur = m.object_prefix(bucket.name, version.key)
            if version.delete_marker:
                w.delete(m.CURRENT, cur)
            else:
                w.put(m.CURRENT, cur, version.dump())
            for blob_id, _ in version.parts:
                w.delete(m.PENDING, keys.pack(blob_id))
            queued = _outbox(w, bucket, version, event, seq)
        self.release_soon(dropped)
        if queued and self.on_event is not None:
            self.on_event()
        return version

    def _drop_null(self, w: WriteTxn, bucket: str, key: str) -> list[str]:
        dropped: list[str] = []
        for raw_key, raw in list(w.scan(m.VERSIONS, prefix=m.versions_prefix(bucket, key))):
            old = ObjectVersion.load(raw)
            if old.version_id == "null":
                w.delete(m.VERSIONS, raw_key)
                w.delete(m.RESTORES, raw_key)
                dropped.extend(self.drop(w, (b for b, _ in old.parts)))
        return dropped

    def delete_version(
        self, bucket: Bucket, version: ObjectVersion, event: str = "ObjectRemoved:Delete"
    ) -> bool:
        """Remove one version for good (DeleteObject with a VersionId, lifecycle expiration);
        False if it was already gone."""
        with self.store.write() as w:
            vkey = m.version_key(bucket.name, version.key, version.seq)
            if w.get(m.VERSIONS, vkey) is None:
                return False
            w.delete(m.VERSIONS, vkey)
            w.delete(m.RESTORES, vkey)
            newest = next(iter(w.scan(m.VERSIONS, prefix=m.versions_prefix(bucket.name, version.key))), None)
            cur = m.object_prefix(bucket.name, version.key)
            latest = ObjectVersion.load(newest[1]) if newest else None
            if latest is None or latest.delete_marker:
                w.delete(m.CURRENT, cur)
            else:
                w.put(m.CURRENT, cur, latest.dump())
            queued = _outbox(w, bucket, version, event, w.next_sequence(m.SEQUENCE))
            dropped = self.drop(w, (b for b, _ in version.parts))
        self.release_soon(dropped)
        if queued and self.on_event is not None:
            self.on_event()
        return True

    def amend(
        self,
        bucket: Bucket,
        version: ObjectVersion,
        change: Callable[[ObjectVersion, WriteTxn], tuple[ObjectVersion, str | None] | None],
    ) -> ObjectVersion | None:
        """Rewrite a stored version in place (storage class, restore state), in one transaction
        with its outbox event. `change` gets the version as stored now and returns (new version,
        event name or None), or None to leave it (e.g. already done: no event twice). None if the
        version is gone or unchanged."""
        with self.store.write() as w:
            vkey = m.version_key(bucket.name, version.key, version.seq)
            raw = w.get(m.VERSIONS, vkey)
            if raw is None:
                return None
            changed = change(ObjectVersion.load(raw), w)
            if changed is None:
                return None
            new, event = changed
            w.put(m.VERSIONS, vkey, new.dump())
            cur = m.object_prefix(bucket.name, version.key)
            raw_cur = w.get(m.CURRENT, cur)
            if raw_cur is not None and ObjectVersion.load(raw_cur).seq == version.seq:
                w.put(m.CURRENT, cur, new.dump())
            queued = event is not None and _outbox(w, bucket, new, event, w.next_sequence(m.SEQUENCE))
        if queued and self.on_event is not None:
            self.on_event()
        return new

    def abort_upload(self, bucket: str, upload_id: str) -> bool:
        """Drop a multipart upload and its parts (AbortMultipartUpload, lifecycle); False if gone."""
        with self.store.write() as w:
            ukey = keys.pack(bucket, upload_id)
            if w.get(m.UPLOADS, ukey) is None:
                return False
            w.delete(m.UPLOADS, ukey)
            blobs: list[str] = []
            for pkey, raw in list(w.scan(m.PARTS, prefix=keys.pack(upload_id))):
                w.delete(m.PARTS, pkey)
                blobs.append(orjson.loads(raw)["blob"])
            dropped = self.drop(w, blobs)
        self.release_soon(dropped)
        return True

    def replace_tags(self, bucket: str, version: ObjectVersion, tags: dict[str, str]) -> None:
        new = ObjectVersion(**{**version.__dict__, "tags": tags})
        with self.store.write() as w:
            w.put(m.VERSIONS, m.version_key(bucket, version.key, version.seq), new.dump())
            cur = m.object_prefix(bucket, version.key)
            raw = w.get(m.CURRENT, cur)
            if raw is not None and ObjectVersion.load(raw).seq == version.seq:
                w.put(m.CURRENT, cur, new.dump())


def _write_all(writer: BlobWriter, pieces: list[bytes | memoryview]) -> None:
    for piece in pieces:
        writer.write(piece)


def _log_failure(future: Future[None]) -> None:
    if future.exception() is not None:
        log.error("deleting freed blobs failed (collected at next start)", exc_info=future.exception())


def _with_seq(version: ObjectVersion, seq: int) -> ObjectVersion:
    return ObjectVersion(**{**version.__dict__, "seq": seq})


def _outbox(w: WriteTxn, bucket: Bucket, version: ObjectVersion, event: str, seq: int) -> bool:
    """Queue the event if the bucket's notification configuration, as it stands in this
    transaction, sends it anywhere (the targets are recorded with it); whether it did."""
    raw = w.get(m.BUCKETS, m.bucket_key(bucket.name))
    config = Bucket.load(raw).notification if raw is not None else None
    targets = targets_for(config, event, version.key)
    if not targets:
        return False
    caller = m.CALLER.get()
    record = ObjectEvent(
        event=event,
        account=bucket.account,
        region=bucket.region,
        bucket=bucket.name,
        key=version.key,
        size=version.size,
        etag=version.etag,
        version_id=None if version.version_id == "null" else version.version_id,
        sequencer=f"{seq:016X}",
        time=time.time(),
        targets=targets,
        request_id=caller.request_id if caller else "",
        principal=caller.principal if caller else bucket.account,
    )
    w.put(m.OUTBOX, keys.pack(seq), record.dump())
    return True
