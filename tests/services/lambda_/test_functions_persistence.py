"""Functions, versions, aliases, concurrency and tags survive a restart; pending work is finished after it."""

from __future__ import annotations

import asyncio
import signal
import time
import urllib.request
from pathlib import Path

from squall.services.lambda_.code import CodeStore
from squall.services.lambda_.functions import NS, PENDING_NS, FunctionRecord, fn_key
from squall.services.lambda_.lifecycle import Lifecycle
from squall.storage import DataDir, pack
from tests.conftest import start_server
from tests.services.lambda_.helpers import ACCOUNT, create, make_zip


def test_everything_survives_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_server(data)
    try:
        lam = first.client("lambda")
        package = make_zip()
        fn = create(lam, "keep", Tags={"k": "v"}, Code={"ZipFile": package})
        lam.publish_version(FunctionName="keep")
        lam.create_alias(
            FunctionName="keep",
            Name="live",
            FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {}},
        )
        lam.put_function_concurrency(FunctionName="keep", ReservedConcurrentExecutions=7)
        lam.put_provisioned_concurrency_config(
            FunctionName="keep", Qualifier="live", ProvisionedConcurrentExecutions=1
        )
    finally:
        first.stop(signal.SIGKILL)
    second = start_server(data)
    try:
        lam = second.client("lambda")
        got = lam.get_function(FunctionName="keep")
        assert got["Configuration"]["CodeSha256"] == fn["CodeSha256"]
        assert got["Configuration"]["State"] == "Active"
        assert got["Tags"] == {"k": "v"}
        assert got["Concurrency"] == {"ReservedConcurrentExecutions": 7}
        with urllib.request.urlopen(got["Code"]["Location"]) as resp:
            assert resp.read() == package
        assert lam.get_alias(FunctionName="keep", Name="live")["FunctionVersion"] == "1"
        # re-warmed after the restart: IN_PROGRESS until its EE is up (which can be before we ask)
        status = lam.get_provisioned_concurrency_config(FunctionName="keep", Qualifier="live")["Status"]
        assert status in ("IN_PROGRESS", "READY")
        deadline = time.monotonic() + 30
        while status != "READY" and time.monotonic() < deadline:
            time.sleep(0.1)
            status = lam.get_provisioned_concurrency_config(FunctionName="keep", Qualifier="live")["Status"]
        assert status == "READY"
        # version numbers continue, never reused
        lam.update_function_configuration(FunctionName="keep", Timeout=9)
        lam.get_waiter("function_updated_v2").wait(FunctionName="keep")
        assert lam.publish_version(FunctionName="keep")["Version"] == "2"
    finally:
        second.stop()


def test_pending_transition_is_finished_after_restart(tmp_path: Path) -> None:
    """A Pending function left by a crash becomes Active when the worker starts."""
    data = DataDir.open(tmp_path / "data")
    try:
        codes = CodeStore(data.store, data.blobs)
        code = codes.put(ACCOUNT, "us-east-1", make_zip())
        config = {"FunctionName": "p", "State": "Pending", "StateReason": "The function is being created."}
        key = fn_key(ACCOUNT, "us-east-1", "p")
        with data.store.write() as w:
            w.put(NS, key, FunctionRecord(config, code).dump())
            w.put(PENDING_NS, pack(ACCOUNT, "us-east-1", "p", "$LATEST"), b"1")
        asyncio.run(Lifecycle(data.store, codes).settle())
        with data.store.read() as r:
            raw = r.get(NS, key)
            assert raw is not None
            record = FunctionRecord.load(raw)
            assert r.count(PENDING_NS) == 0
        assert record.config["State"] == "Active" and "StateReason" not in record.config
    finally:
        data.close()


def test_code_urls_expire_and_are_bound_to_the_blob(tmp_path: Path) -> None:
    data = DataDir.open(tmp_path / "data")
    try:
        codes = CodeStore(data.store, data.blobs)
        package = make_zip()
        ref = codes.put(ACCOUNT, "us-east-1", package)
        same = codes.put(ACCOUNT, "us-east-1", package)
        assert same.blob_id == ref.blob_id  # content-addressed
        url = codes.presigned_url("http://x", ref, now=1000.0)
        path, _, query = url.removeprefix("http://x").partition("?")
        assert codes.verify_url(path, query, now=1000.0) == ref.blob_id
        assert codes.verify_url(path, query, now=1000.0 + 601) is None
        assert codes.verify_url(path + "0", query, now=1000.0) is None
        # the secret persists: a new CodeStore on the same data accepts the URL
        assert CodeStore(data.store, data.blobs).verify_url(path, query, now=1000.0) == ref.blob_id
    finally:
        data.close()
