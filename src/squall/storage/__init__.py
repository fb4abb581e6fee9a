"""Durable state: an ordered key-value store with transactions, blobs as files,
and the data directory that holds both. See README.md in this folder."""

from squall.storage import keys
from squall.storage.blobs import BlobNotFoundError, BlobRef, BlobStore, BlobUsage
from squall.storage.datadir import DataDir, DataDirInUse
from squall.storage.interface import (
    ChangeCounter,
    ReadTxn,
    SchemaTooNewError,
    StorageError,
    StorageFull,
    Store,
    TransactionError,
    WriteTxn,
)
from squall.storage.keys import pack, unpack
from squall.storage.migrations import MIGRATIONS, Migration
from squall.storage.space import SpaceGuard
from squall.storage.sqlite import SQLiteStore

__all__ = [
    "MIGRATIONS",
    "BlobNotFoundError",
    "BlobRef",
    "BlobStore",
    "BlobUsage",
    "ChangeCounter",
    "DataDir",
    "DataDirInUse",
    "Migration",
    "ReadTxn",
    "SQLiteStore",
    "SchemaTooNewError",
    "SpaceGuard",
    "StorageError",
    "StorageFull",
    "Store",
    "TransactionError",
    "WriteTxn",
    "keys",
    "pack",
    "unpack",
]
