"""The storage contract every backend implements (SQLite now, PostgreSQL later).

Services see an ordered key-value store: values are bytes, keys are bytes
compared in byte order, grouped into namespaces (`ns`, a short string such as
"lambda" or "sqs.messages"). Composite keys are built with `keys.pack`.

Transactions:

- `Store.read()` yields a `ReadTxn` over one consistent snapshot: writes
  committed after the snapshot was taken are not visible inside it.
- `Store.write()` yields a `WriteTxn`. Write transactions are serialised (one
  at a time per store) and atomic: everything done in the block is committed,
  durably, when the block exits normally, and nothing of it is when it exits
  with an exception. A write transaction reads its own writes.
- Transactions are short and synchronous. From asyncio code call them
  directly (they do not block for long), but never `await` inside the block.
- Iterators returned by `scan` must be consumed inside the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from squall.storage.notices import Notices


class StorageError(Exception):
    """Base class of storage-layer errors."""


class SchemaTooNewError(StorageError):
    """The database was written by a newer Squall than this one."""


class StorageFull(StorageError):
    """The data directory's disk is (nearly) full: the write was refused or rolled back, nothing
    of it was kept. Transient: it succeeds again once space returns (storage/space.py)."""


class TransactionError(StorageError):
    """A transaction was used wrongly (nested write, use after close...)."""


@runtime_checkable
class ReadTxn(Protocol):
    def get(self, ns: str, key: bytes) -> bytes | None:
        """The value stored under `key`, or None."""
        ...

    def scan(
        self,
        ns: str,
        *,
        prefix: bytes | None = None,
        start: bytes | None = None,
        end: bytes | None = None,
        reverse: bool = False,
        limit: int | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) pairs in byte order of key (descending if `reverse`).

        `start` is inclusive and `end` exclusive; `prefix` restricts to keys
        starting with it. Bounds combine (intersection). `limit` caps the
        number of pairs yielded.
        """
        ...

    def count(self, ns: str, prefix: bytes | None = None) -> int:
        """Number of keys in `ns` (starting with `prefix` if given)."""
        ...


@runtime_checkable
class WriteTxn(ReadTxn, Protocol):
    def put(self, ns: str, key: bytes, value: bytes) -> None:
        """Insert or replace."""
        ...

    def put_many(self, ns: str, items: Iterable[tuple[bytes, bytes]]) -> None:
        """`put` of every `(key, value)`, in order (one statement for many rows)."""
        ...

    def delete(self, ns: str, key: bytes) -> bool:
        """Remove `key`; True if it existed."""
        ...

    def delete_range(
        self,
        ns: str,
        *,
        prefix: bytes | None = None,
        start: bytes | None = None,
        end: bytes | None = None,
    ) -> int:
        """Remove every key selected like `scan` does; returns how many.
        With no bound at all, empties the namespace."""
        ...

    def next_sequence(self, name: str) -> int:
        """The next value (1, 2, 3, ...) of the durable counter `name`.
        Values are never reused, unless the transaction rolls back."""
        ...

    def notify(self, channel: str, value: str) -> None:
        """Publish `value` on `channel` of the store's `notices` once this transaction has
        committed (nothing if it rolls back); see storage/notices.py."""
        ...


@runtime_checkable
class Store(Protocol):
    def read(self) -> AbstractContextManager[ReadTxn]:
        """A read transaction over a consistent snapshot."""
        ...

    def write(self) -> AbstractContextManager[WriteTxn]:
        """A serialised, atomic, durable write transaction."""
        ...

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...

    @property
    def notices(self) -> Notices:
        """Commit notices of this store's write transactions (storage/notices.py)."""
        ...


@runtime_checkable
class ChangeCounter(Protocol):
    def changes(self, ns: str) -> int:
        """A count that moves with every committed write transaction that wrote to ``ns``,
        whichever process of the server committed it (compare it for equality only:
        unrelated namespaces may share a counter).

        Read it before a read transaction: while it is unchanged, nothing read
        from ``ns`` then has changed since (what an in-memory cache checks).
        """
        ...
