"""Shared fixtures for the unit tests of the layers, policy, invoke-config and ESM parts."""

from __future__ import annotations

from pathlib import Path

from squall.services.base import RequestContext
from squall.storage import BlobStore, SQLiteStore
from tests.inprocess import context
from tests.services.lambda_.directory_double import ACCOUNT, REGION


def ctx(operation: str = "Op", account: str = ACCOUNT, region: str = REGION) -> RequestContext:
    return context("req-1", account, region, "lambda", operation, "test", None, "http://localhost:4566")


def open_store(tmp: Path) -> tuple[SQLiteStore, BlobStore]:
    return SQLiteStore(tmp / "state.db"), BlobStore(tmp / "blobs")
