"""S3 state over the store: buckets (cached decoded records), object versions and their
commits with the outbox event in the same transaction. Bodies: `bodies.Bodies`."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import orjson

from squall.services.s3 import models as m
from squall.services.s3.bodies import Bodies, Body, InlineBody, is_inline
from squall.services.s3.models import Bucket, ObjectEvent, ObjectVersion
from squall.services.s3.notify_config import targets_for
from squall.storage import BlobStore, ChangeCounter, Store, WriteTxn, keys

_VERSION_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


class S3Data(Bodies):
    def __init__(self, store: Store, blobs: BlobStore, io_threads: int = 32) -> None:
        super().__init__(store, blobs, io_threads)
        #: Called after a transaction that queued an outbox record (the notifier's wake-up).
        self.on_event: Callable[[], None] | None = None
        #: Decoded bucket records, valid while `store.changes(BUCKETS)` is `_buckets_seen`.
        self._counter = store if isinstance(store, ChangeCounter) else None
        self._buckets: dict[str, Bucket | None] = {}
        self._buckets_seen = -1
        self._buckets_lock = threading.Lock()
        self._seqs = Sequencer()

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

    def _write(self) -> _SeqWrite:
        """A write transaction that may take sequence numbers (`self._seqs.take(w)`)."""
        return _SeqWrite(self.store, self._seqs)

    # --- versions ---

    def current(self, bucket: str, key: str, inline: dict[str, bytes] | None = None) -> ObjectVersion | None:
        """The key's current version. With `inline`, the bytes of its body when that is
        one inline body are added to it (read in the same transaction: one read per
        small GET, and body and version from one snapshot)."""
        with self.store.read() as r:
            raw = r.get(m.CURRENT, m.object_prefix(bucket, key))
            if raw is None:
                return None
            version = ObjectVersion.load(raw)
            if inline is not None and len(version.parts) == 1 and is_inline(version.parts[0][0]):
                body_id = version.parts[0][0]
                data = r.get(m.INLINE, keys.pack(body_id))
                if data is not None:
                    inline[body_id] = data
        return version

    def versions(self, bucket: str, key: str) -> list[ObjectVersion]:
        with self.store.read() as r:
            return [
                ObjectVersion.load(v) for _, v in r.scan(m.VERSIONS, prefix=m.versions_prefix(bucket, key))
            ]

    def find(
        self, bucket: str, key: str, version_id: str | None, inline: dict[str, bytes] | None = None
    ) -> ObjectVersion:
        """The current version (NoSuchKey), or the version asked for (NoSuchVersion;
        a malformed id is InvalidArgument as on AWS). `inline`: see `current`."""
        if version_id is None:
            found = self.current(bucket, key, inline)
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
        cur = m.object_prefix(bucket.name, version.key)
        staged = new_body.data if isinstance(new_body, InlineBody) else None
        staged_id = new_body.id if new_body is not None and staged is not None else None
        with self._write() as w:
            if staged is not None:
                w.put(m.INLINE, keys.pack(staged_id), staged)
            if also is not None:
                dropped.extend(also(w))
            seq = self._seqs.take(w)
            version = _with_seq(version, seq)
            current = self._bucket_in(w, bucket.name)
            if version.version_id == "null":
                dropped.extend(self._drop_null(w, current, cur))
            raw = version.dump()
            w.put(m.VERSIONS, m.version_key_at(cur, seq), raw)
            if version.delete_marker:
                w.delete(m.CURRENT, cur)
            else:
                w.put(m.CURRENT, cur, raw)
            for blob_id, _ in version.parts:
                if blob_id != staged_id:  # a staged body has no intent
                    w.delete(m.PENDING, keys.pack(blob_id))
            queued = _outbox(w, current, bucket, version, event, seq)
        self.release_soon(dropped)
        if queued and self.on_event is not None:
            self.on_event()
        return version

    def _drop_null(self, w: WriteTxn, current: Bucket | None, cur: bytes) -> list[str]:
        """Remove the key's "null" version (and free its bodies). In a bucket that was never
        versioned it is the key's only version, the one in `s3.cur`."""
        if current is not None and not current.versioning:
            raw = w.get(m.CURRENT, cur)
            found = [] if raw is None else [orjson.loads(raw)]
        else:
            found = [orjson.loads(raw) for _, raw in w.scan(m.VERSIONS, prefix=cur + m.VERSION_SEP)]
        dropped: list[str] = []
        for old in found:  # ObjectVersion records, as decoded JSON (only 4 fields needed)
            if old["version_id"] == "null":
                raw_key = m.version_key_at(cur, old["seq"])
                w.delete(m.VERSIONS, raw_key)
                if old.get("restore") is not None:  # an `s3.restore` entry exists only with a restore
                    w.delete(m.RESTORES, raw_key)
                dropped.extend(self.drop(w, (b for b, _ in old["parts"])))
        return dropped

    def delete_version(
        self, bucket: Bucket, version: ObjectVersion, event: str = "ObjectRemoved:Delete"
    ) -> bool:
        """Remove one version for good (DeleteObject with a VersionId, lifecycle expiration);
        False if it was already gone."""
        with self._write() as w:
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
            queued = _outbox(w, self._bucket_in(w, bucket.name), bucket, version, event, self._seqs.take(w))
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
        with self._write() as w:
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
                w, self._bucket_in(w, bucket.name), bucket, new, event, self._seqs.take(w)
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


_BUCKET_CACHE_MAX = 4096


class _Missing:
    pass


_MISSING = _Missing()


def _found(bucket: Bucket | None, name: str) -> Bucket:
    if bucket is None:
        raise m.no_such_bucket(name)
    return bucket


def _with_seq(version: ObjectVersion, seq: int) -> ObjectVersion:
    copy = object.__new__(ObjectVersion)  # a field-for-field copy (the class is frozen, not slotted)
    copy.__dict__.update(version.__dict__, seq=seq)
    return copy


class _SeqWrite:
    """`store.write()` that tells the `Sequencer` how the transaction ended."""

    def __init__(self, store: Store, seqs: Sequencer) -> None:
        self._cm = store.write()
        self._seqs = seqs
        self._txn: WriteTxn | None = None

    def __enter__(self) -> WriteTxn:
        self._txn = self._cm.__enter__()
        return self._txn

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        txn = self._txn
        try:
            suppressed = self._cm.__exit__(kind, exc, tb)
        except BaseException:
            if txn is not None:
                self._seqs.ended(txn, committed=False)
            raise
        if txn is not None:
            self._seqs.ended(txn, committed=kind is None)
        return suppressed


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
        restore=_restore_data(event, version),
    )
    w.put(m.OUTBOX, keys.pack(seq), record.dump())
    return True


def _restore_data(event: str, version: ObjectVersion) -> dict[str, Any] | None:
    if event != "ObjectRestore:Completed" or version.restore is None:
        return None
    return {"expiry": version.restore["expiry"], "storage_class": version.storage_class}


class Sequencer:
    """Increasing sequence numbers for `s3` (version order, outbox order, event sequencers)
    without a store write for each: `next_sequence(SEQUENCE)` = b reserves the block
    b * SEQ_BLOCK .. (b + 1) * SEQ_BLOCK - 1, in the transaction taking its first number.
    Numbers only grow in commit order (they are taken under the store's write lock), across
    restarts too (a restart reserves a new block past every reserved one; gaps are fine).
    A block is used by later transactions only once its reserving transaction committed:
    a rolled-back reservation is dropped (its numbers were never persisted). One Sequencer
    (one S3Data) per store, like the bucket cache: two would interleave their blocks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0
        self._end = 0
        self._owner: WriteTxn | None = None  # the transaction that reserved the block, until it ends

    def take(self, w: WriteTxn) -> int:
        """The next number, inside write transaction `w` (which must end through `ended`)."""
        with self._lock:
            if self._next >= self._end or (self._owner is not None and self._owner is not w):
                block = w.next_sequence(m.SEQUENCE)
                self._next, self._end, self._owner = block * SEQ_BLOCK, (block + 1) * SEQ_BLOCK, w
            seq = self._next
            self._next += 1
            return seq

    def ended(self, w: WriteTxn, committed: bool) -> None:
        with self._lock:
            if self._owner is w:
                self._owner = None
                if not committed:
                    self._end = 0


SEQ_BLOCK = 1024
