"""Versioned schema migrations for the SQLite store.

`MIGRATIONS` is the ordered list of schema versions (1, 2, 3, ... with no
gaps). At open, `apply_migrations` runs, in one transaction, every migration
newer than the version recorded in `schema_migrations`; either all of them
are applied or none. A database whose recorded version is newer than the
newest migration this code knows is refused with `SchemaTooNewError` (an
older Squall must not write a newer database).

Append new migrations at the end; never edit or reorder released ones.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass

from squall.storage.interface import SchemaTooNewError, StorageError


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "key-value table and sequences",
        (
            """CREATE TABLE kv (
                ns TEXT NOT NULL,
                key BLOB NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (ns, key)
            ) WITHOUT ROWID""",
            """CREATE TABLE sequences (
                name TEXT PRIMARY KEY NOT NULL,
                value INTEGER NOT NULL
            ) WITHOUT ROWID""",
        ),
    ),
)

_CREATE_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    applied_at REAL NOT NULL
)"""


def _check_order(migrations: Sequence[Migration]) -> None:
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise StorageError(
                f"migration list is not contiguous: expected version {expected}, got {migration.version}"
            )


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database (0 for a fresh one)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if exists is None:
        return 0
    row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0


def apply_migrations(
    conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS, *, path: str = "database"
) -> list[int]:
    """Bring the schema of `conn` (autocommit mode, no open transaction) up to
    the newest of `migrations`, atomically. Returns the versions applied."""
    _check_order(migrations)
    latest = len(migrations)
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_CREATE_TABLE)
        version = current_version(conn)
        if version > latest:
            raise SchemaTooNewError(
                f"{path} has schema version {version}, but this Squall only knows versions up to "
                f"{latest}; it was written by a newer Squall. Upgrade Squall to open it."
            )
        applied: list[int] = []
        for migration in migrations[version:]:
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, time.time()),
            )
            applied.append(migration.version)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return applied
