"""A test-only in-process server for the periph parts: the real gateway, router, parsers and
serializers, with a Lambda provider made of this half's parts over a `DictDirectory`.
It lets boto3 drive layers, permissions, invoke configs and mappings over HTTP before the
functions part exists (the `*_e2e.py` tests use the real server and real functions)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from squall.config import Settings
from squall.gateway.app import Gateway
from squall.gateway.credentials import AccountCredentials
from squall.protocol.router import Router
from squall.services.base import ServiceProvider
from squall.services.lambda_.periph import Periph
from squall.services.registry import ServiceRegistry
from squall.services.sts.sessions import SessionStore
from squall.storage import BlobStore, SQLiteStore
from tests.conftest import free_port
from tests.services.lambda_.directory_double import DictDirectory


class _PeriphOnlyLambda(ServiceProvider):
    service = "lambda"


@dataclass
class Wire:
    endpoint: str
    directory: DictDirectory
    periph: Periph

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "lambda",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 1}),
        )


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wire]:
    tmp = tmp_path_factory.mktemp("periph-wire")
    store = SQLiteStore(Path(tmp) / "state.db")
    blobs = BlobStore(Path(tmp) / "blobs")
    directory = DictDirectory()
    periph = Periph.build(store, blobs, directory)
    settings = Settings(port=free_port(), data_dir=Path(tmp))
    gateway = Gateway(
        router=Router(),
        credentials=AccountCredentials(settings.root_keys, SessionStore(store)),
        services=ServiceRegistry([_PeriphOnlyLambda(*periph.parts)]),
        endpoint=settings.endpoint,
        max_body_bytes=settings.max_body_bytes,
        body_timeout=settings.body_timeout,
        clock_skew=settings.clock_skew,
    )
    config = uvicorn.Config(
        gateway, host="127.0.0.1", port=settings.port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield Wire(f"http://127.0.0.1:{settings.port}", directory, periph)
    server.should_exit = True
    thread.join(10)
    store.close()
