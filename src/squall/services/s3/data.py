"""S3 state over the store and the blob area: buckets, object versions, bodies.

Write protocol for a body (crash-safe, see storage/README.md):
1. commit an intent `s3.pending[blob id]`;
2. stream the body into the blob (temp file, fsync, rename);
3. commit the version record (and drop the intent, and write the outbox
   event) in one transaction;
4. delete the blobs of versions that transaction replaced.

Small bodies (at most INLINE_MAX bytes once the whole body arrived) skip the
file: steps 1 and 2 become one transaction writing the bytes into `s3.body`
under an id starting with "i" (and its intent); PutObject goes further and
writes them in the step-3 transaction itself (`staged`). They have exactly the
store's durability (kill -9 in NORMAL mode, power loss in FULL mode) and cost
no file creation, rename or fsync. A transaction dropping an inline body
deletes its row itself (no intent, no step 4). Parts, intents, release and
orphan collection handle both kinds of id.

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
import hashlib
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import orjson

from squall.protocol.errors import ServiceError
from squall.services.s3 import models as m
from squall.services.s3.models import Bucket, ObjectEvent, ObjectVersion
from squall.services.s3.notify_config import targets_for
from squall.storage import BlobStore, ChangeCounter, Store, WriteTxn, keys
from squall.storage.blobs import BlobNotFoundError, BlobWriter

log = logging.getLogger("squall.s3")
_BATCH_BYTES = 1 << 20
#: Bodies up to this size are stored in the store row (`s3.body`), not in a blob file.
INLINE_MAX = 64 << 10
_INLINE_MARK = "i"
_VERSION_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


@dataclass(frozen=True, slots=True)
class InlineBody:
    """A small body as `write_body` returns it: committed into `s3.body` (with its
    intent), or only `staged` (its bytes in `data`, for `commit_version` to write)."""

    id: str
    size: int
    md5_hex: str
    data: bytes | None = None


Body = BlobWriter | InlineBody


def is_inline(body_id: str) -> bool:
    return body_id.startswith(_INLINE_MARK)


class S3Data:
    def __init__(self, store: Store, blobs: BlobStore, io_threads: int = 32) -> None:
        self.store = store
        self.blobs = blobs
        self._io = ThreadPoolExecutor(io_threads, thread_name_prefix="s3-io")
        #: Called after a transaction that queued an outbox record (the notifier's wake-up).
        self.on_event: Callable[[], None] | None = None
        #: Decoded bucket records, valid while `store.changes(BUCKETS)` is `_buckets_seen`.
        self._counter = store if isinstance(store, ChangeCounter) else None
        self._buckets: dict[str, Bucket | None] = {}
        self._buckets_seen = -1
        self._buckets_lock = threading.Lock()

    def close(self) -> None:
        """Finish pending blob deletions and stop the I/O threads."""
        self._io.shutdown(wait=True)

    # --- buckets ---

    def bucket(self, name: str, account: str | None = None) -> Bucket:
        """The bucket, or NoSuchBucket. (Access across accounts is not checked yet.)
        Cached until a transaction of this process writes to `BUCKETS`."""
        counter = self._counter
        if counter is None:
            found = self._load_bucket(name)
        else:
            seen = counter.changes(m.BUCKETS)  # before the read: see ChangeCounter
            with self._buckets_lock:
                if seen != self._buckets_seen:
                    self._buckets.clear()
                    self._buckets_seen = seen
                cached = self._buckets.get(name, _MISSING)
            if not isinstance(cached, _Missing):
                return _found(cached, name)
            found = self._load_bucket(name)
            with self._buckets_lock:  # not if another thread saw a newer count meanwhile
                if seen == self._buckets_seen:
                    if len(self._buckets) >= _BUCKET_CACHE_MAX:
                        self._buckets.clear()
                    self._buckets[name] = found
        return _found(found, name)

    def _bucket_in(self, w: WriteTxn, name: str) -> Bucket | None:
        """The bucket record as `w` sees it. The cached one is current when the counter is
        unchanged: counters move only on commit, under the write lock `w` holds (and no
        transaction that reaches here writes `BUCKETS` before)."""
        counter = self._counter
        if counter is not None:
            with self._buckets_lock:
                if counter.changes(m.BUCKETS) == self._buckets_seen:
                    cached = self._buckets.get(name, _MISSING)
                    if not isinstance(cached, _Missing):
                        return cached
        raw = w.get(m.BUCKETS, m.bucket_key(name))
        return Bucket.load(raw) if raw is not None else None

    def _load_bucket(self, name: str) -> Bucket | None:
        with self.store.read() as r:
            raw = r.get(m.BUCKETS, m.bucket_key(name))
        return Bucket.load(raw) if raw is not None else None

    def save_bucket(self, bucket: Bucket) -> None:
        with self.store.write() as w:
            w.put(m.BUCKETS, m.bucket_key(bucket.name), bucket.dump())

    # --- bodies ---

    async def write_body(
        self,
        body: AsyncIterable[bytes | memoryview] | bytes,
        limit: int = m.MAX_PUT_BYTES,
        *,
        staged: bool = False,
    ) -> Body:
        """Store `body`: inline when it ends within INLINE_MAX bytes, else streamed
        into a new blob (committed to disk). Either way it is referenced by an intent
        record until `commit_version` or `release` takes it over. Raises
        EntityTooLarge past `limit` bytes; on any error nothing is left behind.

        `staged`: a small body is not written here but returned with its bytes, to be
        passed as `commit_version(new_body=...)`, which writes it in its transaction
        (one transaction per small PUT; nothing to collect if the request fails)."""
        if isinstance(body, bytes):
            if len(body) <= INLINE_MAX:
                return self._put_inline(body, staged)
            return await self._write_blob([body], None, limit)
        pieces = body.__aiter__()
        head: list[bytes | memoryview] = []
        size = 0
        async for piece in pieces:
            head.append(piece)
            size += len(piece)
            _check_limit(size, limit)
            if size > INLINE_MAX:
                return await self._write_blob(head, pieces, limit)
        return self._put_inline(b"".join(head), staged)

    def _put_inline(self, data: bytes, staged: bool) -> InlineBody:
        body_id = _INLINE_MARK + secrets.token_hex(16)
        md5_hex = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if staged:
            return InlineBody(body_id, len(data), md5_hex, data)
        with self.store.write() as w:
            w.put(m.INLINE, keys.pack(body_id), data)
            w.put(m.PENDING, keys.pack(body_id), b"")
        return InlineBody(body_id, len(data), md5_hex)

    async def _write_blob(
        self,
        head: list[bytes | memoryview],
        rest: AsyncIterator[bytes | memoryview] | None,
        limit: int,
    ) -> BlobWriter:
        loop = asyncio.get_running_loop()
        writer = self.blobs.begin()
        with self.store.write() as w:
            w.put(m.PENDING, keys.pack(writer.id), b"")
        inflight: asyncio.Future[None] | None = None
        try:
            batch = head
            received = batched = sum(len(piece) for piece in head)
            _check_limit(received, limit)
            if rest is not None:
                async for piece in rest:
                    received += len(piece)
                    _check_limit(received, limit)
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

    def read_body(self, body_id: str) -> bytes:
        """A whole part body, inline or a blob file (for in-process reads of small objects)."""
        return self.inline_body(body_id) if is_inline(body_id) else self.blobs.read(body_id)

    def inline_body(self, body_id: str) -> bytes:
        """The bytes of an inline body; BlobNotFoundError once it was released."""
        with self.store.read() as r:
            data = r.get(m.INLINE, keys.pack(body_id))
        if data is None:
            raise BlobNotFoundError(f"no inline body {body_id}")
        return data

    def release_soon(self, blob_ids: Sequence[str]) -> None:
        """`release` on the I/O threads (the blobs already have intents: see `drop`)."""
        if blob_ids:
            future: Future[None] = self._io.submit(self.release, list(blob_ids))
            future.add_done_callback(_log_failure)

    @staticmethod
    def drop(w: WriteTxn, blob_ids: Iterable[str]) -> list[str]:
        """Bodies a transaction stops referencing: inline ones are deleted in it; for
        blob files it records intents and returns them, to `release_soon` after it."""
        ids = []
        for blob_id in blob_ids:
            if is_inline(blob_id):
                w.delete(m.INLINE, keys.pack(blob_id))
            else:
                w.put(m.PENDING, keys.pack(blob_id), b"")
                ids.append(blob_id)
        return ids

    def release(self, blob_ids: Iterable[str]) -> None:
        """Delete bodies nothing references any more (and their intents)."""
        ids = list(blob_ids)
        for blob_id in ids:
            if not is_inline(blob_id):
                self.blobs.delete(blob_id)
        if ids:
            with self.store.write() as w:
                for blob_id in ids:
                    if is_inline(blob_id):
                        w.delete(m.INLINE, keys.pack(blob_id))
                    w.delete(m.PENDING, keys.pack(blob_id))

    def collect_orphans(self) -> int:
        """Delete bodies whose upload never committed (crash between steps 1 and 3)."""
        with self.store.read() as r:
            pending = [str(keys.unpack(k)[0]) for k, _ in r.scan(m.PENDING)]
        self.release(pending)
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
        new_body: Body | None = None,
    ) -> ObjectVersion:
        """Make `version` (its seq filled in here) the newest of its key, in one
        transaction with its outbox event (and `also`, which returns blobs it
        dropped, and the bytes of `new_body` if it is a staged inline body); then
        free what it replaced (the old "null" version, outside versioned buckets)."""
        dropped: list[str] = []
        with self.store.write() as w:
            if isinstance(new_body, InlineBody) and new_body.data is not None:
                w.put(m.INLINE, keys.pack(new_body.id), new_body.data)
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
            queued = _outbox(w, self._bucket_in(w, bucket.name), bucket, version, event, seq)
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
            queued = _outbox(
                w, self._bucket_in(w, bucket.name), bucket, version, event, w.next_sequence(m.SEQUENCE)
            )
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
            queued = event is not None and _outbox(
                w, self._bucket_in(w, bucket.name), bucket, new, event, w.next_sequence(m.SEQUENCE)
            )
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


def _check_limit(received: int, limit: int) -> None:
    if received > limit:
        raise ServiceError(
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size",
            400,
            fields={"ProposedSize": received, "MaxSizeAllowed": limit},
        )


_BUCKET_CACHE_MAX = 4096


class _Missing:
    pass


_MISSING = _Missing()


def _found(bucket: Bucket | None, name: str) -> Bucket:
    if bucket is None:
        raise m.no_such_bucket(name)
    return bucket


def _write_all(writer: BlobWriter, pieces: list[bytes | memoryview]) -> None:
    for piece in pieces:
        writer.write(piece)


def _log_failure(future: Future[None]) -> None:
    if future.exception() is not None:
        log.error("deleting freed blobs failed (collected at next start)", exc_info=future.exception())


def _with_seq(version: ObjectVersion, seq: int) -> ObjectVersion:
    return ObjectVersion(**{**version.__dict__, "seq": seq})


def _outbox(
    w: WriteTxn, current: Bucket | None, bucket: Bucket, version: ObjectVersion, event: str, seq: int
) -> bool:
    """Queue the event if the bucket's notification configuration, as it stands in this
    transaction (`current`), sends it anywhere (the targets are recorded with it); whether it did."""
    config = current.notification if current is not None else None
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
