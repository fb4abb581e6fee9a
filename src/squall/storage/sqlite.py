"""The embedded store: one SQLite database file in WAL mode.

Layout: one `kv(ns, key, value)` WITHOUT ROWID table with primary key
(ns, key) (SQLite compares BLOBs with memcmp, i.e. byte order), and a
`sequences(name, value)` table for `next_sequence`.

Concurrency model:

- One writer connection, guarded by a lock: `write()` takes the lock, runs
  `BEGIN IMMEDIATE`, and `COMMIT`s when the block exits normally (ROLLBACK on
  an exception). Write transactions are therefore serialised across threads;
  opening a write transaction inside another on the same thread is an error
  (it would deadlock).
- One reader connection per thread, created on first use. `read()` opens a
  deferred transaction and touches the database at once, which pins the WAL
  snapshot for the whole block. Nested `read()` blocks on one thread share
  the outer snapshot.
- Calls are short and synchronous; asyncio code calls them directly, but must
  not `await` inside a transaction block.
- The store must not be used in a forked child; open a new one there.
- Other processes of the same server (workers) open the same file with their
  own `process` index: SQLite serialises write transactions across processes
  (`BEGIN IMMEDIATE` is retried without sleeping a millisecond, as SQLite's
  own busy handler would, on the event loop), and the change counters are
  shared through a memory-mapped file (storage/changes.py).

Durability: with WAL and `synchronous=NORMAL` a committed transaction
survives a crash or `kill -9` of the process (the WAL is written before
COMMIT returns); surviving power loss needs `synchronous="FULL"`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from squall.storage.changes import SharedChanges
from squall.storage.interface import StorageFull, TransactionError
from squall.storage.keys import prefix_end
from squall.storage.migrations import MIGRATIONS, Migration, apply_migrations
from squall.storage.notices import Notices
from squall.storage.space import SpaceGuard, is_full

log = logging.getLogger("squall.storage")

_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
WAL_LIMIT = 64 * 1024 * 1024  # bytes of WAL file before it is truncated
_SCAN_BATCH = 256


def _bounds(
    prefix: bytes | None, start: bytes | None, end: bytes | None
) -> tuple[bytes | None, bytes | None]:
    lo, hi = start, end
    if prefix is not None:
        p_end = prefix_end(prefix)
        lo = prefix if lo is None else max(lo, prefix)
        if p_end is not None:
            hi = p_end if hi is None else min(hi, p_end)
    return lo, hi


class _ReadTxn:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn: sqlite3.Connection | None = conn

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise TransactionError("transaction used after its block ended")
        return self._conn

    def _end(self) -> None:
        self._conn = None

    def get(self, ns: str, key: bytes) -> bytes | None:
        row = self._db().execute("SELECT value FROM kv WHERE ns = ? AND key = ?", (ns, key)).fetchone()
        return None if row is None else bytes(row[0])

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
        if limit is not None and limit < 0:
            raise ValueError("limit must not be negative")
        lo, hi = _bounds(prefix, start, end)
        return self._scan(ns, lo, hi, reverse, limit)

    def _scan(
        self, ns: str, lo: bytes | None, hi: bytes | None, reverse: bool, limit: int | None
    ) -> Iterator[tuple[bytes, bytes]]:
        # Keyset pagination: no cursor stays open between batches, so a write
        # transaction may modify the namespace while iterating over it.
        remaining = limit
        lo_inclusive = True
        order = "DESC" if reverse else "ASC"
        while remaining is None or remaining > 0:
            batch = _SCAN_BATCH if remaining is None else min(_SCAN_BATCH, remaining)
            sql = "SELECT key, value FROM kv WHERE ns = ?"
            args: list[object] = [ns]
            if lo is not None:
                sql += " AND key >= ?" if lo_inclusive else " AND key > ?"
                args.append(lo)
            if hi is not None:
                sql += " AND key < ?"
                args.append(hi)
            sql += f" ORDER BY key {order} LIMIT ?"
            args.append(batch)
            rows = self._db().execute(sql, args).fetchall()
            for key, value in rows:
                yield bytes(key), bytes(value)
            if len(rows) < batch:
                return
            if remaining is not None:
                remaining -= len(rows)
            last = bytes(rows[-1][0])
            if reverse:
                hi = last
            else:
                lo, lo_inclusive = last, False

    def count(self, ns: str, prefix: bytes | None = None) -> int:
        lo, hi = _bounds(prefix, None, None)
        sql = "SELECT count(*) FROM kv WHERE ns = ?"
        args: list[object] = [ns]
        if lo is not None:
            sql += " AND key >= ?"
            args.append(lo)
        if hi is not None:
            sql += " AND key < ?"
            args.append(hi)
        return int(self._db().execute(sql, args).fetchone()[0])


class _WriteTxn(_ReadTxn):
    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__(conn)
        self.touched: set[str] = set()  # namespaces written, counted in `changes` on commit
        self.notices: list[tuple[str, str]] | None = None  # published after commit

    def notify(self, channel: str, value: str) -> None:
        if self.notices is None:
            self.notices = []
        self.notices.append((channel, value))

    def put(self, ns: str, key: bytes, value: bytes) -> None:
        self.touched.add(ns)
        self._db().execute("INSERT OR REPLACE INTO kv (ns, key, value) VALUES (?, ?, ?)", (ns, key, value))

    def put_many(self, ns: str, items: Iterable[tuple[bytes, bytes]]) -> None:
        self.touched.add(ns)
        self._db().executemany(
            "INSERT OR REPLACE INTO kv (ns, key, value) VALUES (?, ?, ?)", ((ns, k, v) for k, v in items)
        )

    def delete(self, ns: str, key: bytes) -> bool:
        self.touched.add(ns)
        cur = self._db().execute("DELETE FROM kv WHERE ns = ? AND key = ?", (ns, key))
        return cur.rowcount > 0

    def delete_range(
        self,
        ns: str,
        *,
        prefix: bytes | None = None,
        start: bytes | None = None,
        end: bytes | None = None,
    ) -> int:
        self.touched.add(ns)
        lo, hi = _bounds(prefix, start, end)
        sql = "DELETE FROM kv WHERE ns = ?"
        args: list[object] = [ns]
        if lo is not None:
            sql += " AND key >= ?"
            args.append(lo)
        if hi is not None:
            sql += " AND key < ?"
            args.append(hi)
        return self._db().execute(sql, args).rowcount

    def next_sequence(self, name: str) -> int:
        sql = (
            "INSERT INTO sequences (name, value) VALUES (?, 1) "
            "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value"
        )
        row = self._db().execute(sql, (name,)).fetchone()
        return int(row[0])


class _Checkpointer:
    """A thread that keeps the WAL bounded without the committing threads paying for it.

    After every `EVERY` commits, and at least every `INTERVAL` seconds while commits happen,
    it checkpoints PASSIVE (never blocks readers or the writer). Under a sustained write load
    that is not enough: frames keep arriving while the checkpoint copies, so the WAL is never
    wholly copied at the moment a writer could start it over, and it grew without bound (1.6
    GB). So, once the WAL file is larger than `limit`, a second checkpoint runs right after
    the PASSIVE one, holding the store's write lock (no frame is appended meanwhile in this
    process; SQLite's own lock keeps other processes out): TRUNCATE copies the few frames
    written since, waits up to `READER_WAIT` s for readers still on the WAL, and cuts the
    file to zero bytes. A reader that holds its snapshot longer only postpones the truncation
    to the next round; writers wait for the lock at most that long. `journal_size_limit`
    (set by the store) also trims the file whenever SQLite restarts the WAL on its own.
    Should this thread fall behind, the writers truncate it themselves past 2 x `limit`."""

    EVERY = 256
    INTERVAL = 1.0
    READER_WAIT = 0.05

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        wal: Path,
        write_lock: threading.Lock,
        limit: int,
    ) -> None:
        self._connect = connect
        self._wal = wal
        self._write_lock = write_lock
        self.limit = limit
        self._count = 0
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="squall-checkpoint", daemon=True)
        self._thread.start()

    def committed(self) -> bool:
        """Count a commit (called under the write lock). Every 64 commits the WAL's size is
        looked at: past `limit` the thread wakes at once; past twice `limit` (the thread does
        not keep up with the writers) this returns True and the committing thread truncates
        the WAL itself (`truncate_now`), which makes 2 x `limit` a hard bound."""
        self._count += 1
        if self._count % 64:
            return False
        size = self._wal_size()
        if size > 2 * self.limit:
            return True
        if size > self.limit or self._count >= self.EVERY:
            self._count = 0
            self._wake.set()
        return False

    def truncate_now(self, writer: sqlite3.Connection) -> None:
        """TRUNCATE from the writer connection, under the write lock the caller holds."""
        writer.execute(f"PRAGMA busy_timeout = {int(self.READER_WAIT * 1000)}")
        try:
            writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error:
            log.warning("WAL truncation failed", exc_info=True)
        finally:
            writer.execute("PRAGMA busy_timeout = 0")

    def _wal_size(self) -> int:
        try:
            return os.stat(self._wal).st_size
        except OSError:
            return 0

    def _run(self) -> None:
        conn = self._connect()
        conn.execute(f"PRAGMA busy_timeout = {int(self.READER_WAIT * 1000)}")
        try:
            while not self._stopping:
                self._wake.wait(self.INTERVAL)
                self._wake.clear()
                if self._stopping:
                    return
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    if self._wal_size() > self.limit:
                        self._truncate(conn)
                except sqlite3.Error as exc:
                    if is_full(exc):
                        log.info("WAL checkpoint postponed: the disk is full")
                    else:
                        log.warning("WAL checkpoint failed", exc_info=True)
        finally:
            conn.close()

    def _truncate(self, conn: sqlite3.Connection) -> None:
        with self._write_lock:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            log.debug("WAL truncation postponed: a reader still uses it")
            self._wake.set()  # try again soon, not only after the next EVERY commits

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(10)


class _ReaderState(threading.local):
    conn: sqlite3.Connection | None = None
    txn: _ReadTxn | None = None
    depth: int = 0


class SQLiteStore:
    """`Store` over one SQLite file (see module doc for the concurrency and
    durability model). Opening applies pending schema migrations."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "NORMAL",
        busy_timeout: float = 10.0,
        migrations: Sequence[Migration] = MIGRATIONS,
        process: tuple[int, int] = (0, 1),
        wal_limit: int = WAL_LIMIT,
        space: SpaceGuard | None = None,
    ) -> None:
        """`process` is (this process's index, how many processes of the server share the
        file); index 0, the primary, creates the change counters. `wal_limit`: the WAL file
        is truncated soon after it grows past this many bytes (`_Checkpointer`). `space`: write
        transactions are refused with `StorageFull` while its disk is full (storage/space.py)."""
        sync = synchronous.upper()
        if sync not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(_SYNCHRONOUS)}, not {synchronous!r}")
        self.path = Path(path)
        self._space = space
        self._synchronous = sync
        self._busy_timeout = busy_timeout
        self._closed = False
        self._write_lock = threading.Lock()
        self._writer_thread: int | None = None
        self._readers_lock = threading.Lock()
        self._readers: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._local = _ReaderState()
        self._writer = self._connect(timeout=0.0)  # BEGIN IMMEDIATE waits in `_begin`
        try:
            self._writer.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            mode = self._writer.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise TransactionError(f"could not put {self.path} in WAL mode (got {mode})")
            apply_migrations(self._writer, migrations, path=str(self.path))
            self._writer.execute("PRAGMA busy_timeout = 0")
            # Checkpoints (copying the WAL into the database, with fsyncs) run on a thread of
            # their own instead of inside whichever COMMIT crosses the threshold: that COMMIT is
            # usually on the event loop, which would stall for milliseconds.
            self._writer.execute("PRAGMA wal_autocheckpoint = 0")
            self._writer.execute(f"PRAGMA journal_size_limit = {int(wal_limit)}")
        except BaseException:
            self._writer.close()
            raise
        self._checkpointer = _Checkpointer(
            self._connect, self.path.with_name(self.path.name + "-wal"), self._write_lock, wal_limit
        )
        #: commit notices (storage/notices.py)
        self.notices = Notices()
        #: see `changes`: one region per process of the server
        index, processes = process
        self._changes = SharedChanges(
            self.path.with_name(self.path.name + "-changes"), index=index, processes=processes
        )

    def _connect(self, timeout: float | None = None) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout if timeout is None else timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        return conn

    def _check_open(self) -> None:
        if self._closed:
            raise TransactionError(f"store {self.path} is closed")

    def _reader(self) -> sqlite3.Connection:
        conn = self._local.conn
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only = ON")
            with self._readers_lock:
                alive = []
                for thread, other in self._readers:
                    if thread.is_alive():
                        alive.append((thread, other))
                    else:
                        other.close()
                alive.append((threading.current_thread(), conn))
                self._readers = alive
            self._local.conn = conn
        return conn

    @contextmanager
    def read(self) -> Iterator[_ReadTxn]:
        self._check_open()
        state = self._local
        if state.depth > 0 and state.txn is not None:
            state.depth += 1
            try:
                yield state.txn
            finally:
                state.depth -= 1
            return
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            conn.execute("SELECT 1 FROM kv LIMIT 1").fetchall()  # pins the snapshot now
            txn = _ReadTxn(conn)
            state.txn, state.depth = txn, 1
            try:
                yield txn
            finally:
                state.txn, state.depth = None, 0
                txn._end()
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[_WriteTxn]:
        self._check_open()
        me = threading.get_ident()
        if self._writer_thread == me:
            raise TransactionError("nested write transaction on the same thread")
        with self._write_lock:
            self._check_open()
            if self._space is not None:
                self._space.check()
            conn = self._writer
            self._writer_thread = me
            txn = _WriteTxn(conn)
            try:
                self._begin(conn)
                try:
                    yield txn
                except BaseException as exc:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    self._raise_if_full(exc)
                    raise
                try:
                    conn.execute("COMMIT")
                except BaseException as exc:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    self._raise_if_full(exc)
                    raise
                if txn.touched:
                    self._changes.bump(txn.touched)
                if self._checkpointer.committed():
                    self._checkpointer.truncate_now(conn)
                if txn.notices:
                    self.notices.publish(txn.notices)
            finally:
                txn._end()
                self._writer_thread = None

    def _raise_if_full(self, exc: BaseException) -> None:
        """A write that failed for lack of disk space (rolled back) as `StorageFull`."""
        if isinstance(exc, sqlite3.Error | OSError) and is_full(exc):
            if self._space is not None:
                self._space.full()
            raise StorageFull(f"{self.path}: the disk is full; the transaction was rolled back") from exc

    def _begin(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE, retried while another process holds the write lock: its
        transactions last tens of microseconds, so yield and retry rather than sleep
        (SQLite's busy handler sleeps 1 ms and more, on the caller's event loop)."""
        deadline = 0.0
        pause = 0.0
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
            now = time.monotonic()
            if not deadline:
                deadline = now + self._busy_timeout
            elif now > deadline:
                raise TransactionError(f"{self.path}: the write lock stayed taken for {self._busy_timeout} s")
            time.sleep(pause)
            pause = min(0.001, pause * 2 or 0.00002)

    def changes(self, ns: str) -> int:
        """A count that moves with every committed write transaction that wrote to ``ns``, in
        any process using this database (see `ChangeCounter` and storage/changes.py)."""
        return self._changes.get(ns)

    def close(self) -> None:
        """Wait for a running write transaction, then close every connection.
        Idempotent."""
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            with self._readers_lock:
                for _, conn in self._readers:
                    conn.close()
                self._readers = []
            self._changes.close()
            self._checkpointer.stop()
            try:
                self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            self._writer.close()
