from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from squall.storage import MIGRATIONS, Migration, SchemaTooNewError, SQLiteStore, StorageError
from squall.storage.migrations import apply_migrations, current_version


def _versions(db: Path) -> list[int]:
    conn = sqlite3.connect(db)
    try:
        return [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    finally:
        conn.close()


def test_fresh_database_gets_all_migrations(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    SQLiteStore(db).close()
    assert _versions(db) == [m.version for m in MIGRATIONS]
    SQLiteStore(db).close()  # reopening applies nothing twice
    assert _versions(db) == [m.version for m in MIGRATIONS]


def test_newer_migrations_are_applied_on_open(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    SQLiteStore(db).close()
    extra = Migration(len(MIGRATIONS) + 1, "an index", ("CREATE TABLE extra (x INTEGER)",))
    store = SQLiteStore(db, migrations=(*MIGRATIONS, extra))
    store.close()
    assert _versions(db)[-1] == extra.version
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT count(*) FROM extra").fetchone() == (0,)
    finally:
        conn.close()


def test_newer_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    SQLiteStore(db).close()
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO schema_migrations VALUES (99, 'from the future', 0)")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaTooNewError, match=r"schema version 99.*newer Squall"):
        SQLiteStore(db)


def test_failing_migration_applies_nothing(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    bad = (
        *MIGRATIONS,
        Migration(len(MIGRATIONS) + 1, "ok", ("CREATE TABLE t1 (x)",)),
        Migration(len(MIGRATIONS) + 2, "broken", ("CREATE TABLE t2 (x)", "THIS IS NOT SQL")),
    )
    with pytest.raises(sqlite3.OperationalError):
        SQLiteStore(db, migrations=bad)
    conn = sqlite3.connect(db)
    try:
        assert current_version(conn) == 0
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "kv" not in names and "t1" not in names
    finally:
        conn.close()


def test_gap_in_migration_list_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    try:
        with pytest.raises(StorageError, match="contiguous"):
            apply_migrations(conn, (Migration(2, "skips one", ()),))
    finally:
        conn.close()
