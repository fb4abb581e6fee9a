"""Object bodies: small ones inline in the store, large ones streamed into blob files.

Write protocol for a body (crash-safe, see storage/README.md):
1. commit an intent `s3.pending[blob id]`;
2. stream the body into the blob (temp file, fsync, rename);
3. commit the version record (and drop the intent, and write the outbox
   event) in one transaction (`S3Data.commit_version`);
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
import itertools
import logging
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from squall.protocol.errors import ServiceError
from squall.services.s3 import models as m
from squall.storage import BlobStore, Store, WriteTxn, keys
from squall.storage.blobs import BlobNotFoundError, BlobWriter

log = logging.getLogger("squall.s3")
_BATCH_BYTES = 1 << 20
#: Bodies up to this size are stored in the store row (`s3.body`), not in a blob file.
INLINE_MAX = 64 << 10
_INLINE_MARK = "i"
#: Inline body ids: "i" + 64 random bits drawn once per process + a per-process counter.
_INLINE_PREFIX = _INLINE_MARK + secrets.token_hex(8)
_inline_ids = itertools.count()


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


class Bodies:
    """Body storage over the store (intents, inline bodies) and the blob area."""

    def __init__(self, store: Store, blobs: BlobStore, io_threads: int = 32) -> None:
        self.store = store
        self.blobs = blobs
        self._io = ThreadPoolExecutor(io_threads, thread_name_prefix="s3-io")

    def close(self) -> None:
        """Finish pending blob deletions and stop the I/O threads."""
        self._io.shutdown(wait=True)

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
        body_id = f"{_INLINE_PREFIX}{next(_inline_ids):x}"
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


def _check_limit(received: int, limit: int) -> None:
    if received > limit:
        raise ServiceError(
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size",
            400,
            fields={"ProposedSize": received, "MaxSizeAllowed": limit},
        )


def _write_all(writer: BlobWriter, pieces: list[bytes | memoryview]) -> None:
    for piece in pieces:
        writer.write(piece)


def _log_failure(future: Future[None]) -> None:
    if future.exception() is not None:
        log.error("deleting freed blobs failed (collected at next start)", exc_info=future.exception())
