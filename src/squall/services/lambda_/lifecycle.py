"""The background transition of functions and versions out of Pending / InProgress.

Every change that leaves a configuration Pending or InProgress writes a marker
in "lambda.pending" in the same transaction; this worker checks the stored zip
and moves the configuration to Active/Successful (or Failed with a reason).
Markers are durable, so work left over by a stop or crash is finished after restart.
"""

from __future__ import annotations

import asyncio
import logging

from squall.lib.tasks import Started
from squall.services.lambda_.code import CodeStore, zip_problem
from squall.services.lambda_.functions import (
    NS,
    PENDING_NS,
    FunctionRecord,
    VersionRecord,
    fn_key,
    ver_key,
)
from squall.storage import Store, pack, unpack

log = logging.getLogger("squall.lambda")


class Lifecycle:
    def __init__(self, store: Store, codes: CodeStore) -> None:
        self.store = store
        self.codes = codes
        self._wake = asyncio.Event()

    def kick(self) -> None:
        self._wake.set()

    async def run(self, started: Started) -> None:
        """The worker (a `lib.tasks.Background`): a first pass at once, then one per `kick()`."""
        self._wake = asyncio.Event()
        self._wake.set()
        started()
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.settle()
            except Exception:
                log.exception("lambda lifecycle pass failed")
                await asyncio.sleep(1)
                self._wake.set()

    async def settle(self) -> None:
        """Finish every pending transition."""
        with self.store.read() as r:
            pending = [tuple(str(part) for part in unpack(k)) for k, _ in r.scan(PENDING_NS)]
        for account, region, name, version in pending:
            with self.store.read() as r:
                key = (
                    fn_key(account, region, name)
                    if version == "$LATEST"
                    else ver_key(account, region, name, int(version))
                )
                raw = r.get(NS, key)
            if raw is None:
                self._clear(account, region, name, version)
                continue
            code = (FunctionRecord.load(raw) if version == "$LATEST" else VersionRecord.load(raw)).code
            try:
                data = await asyncio.to_thread(self.codes.read, code)
                problem = await asyncio.to_thread(zip_problem, data)
            except Exception as exc:  # the blob is gone or unreadable
                problem = f"The function code could not be read: {exc}"
            self._finish(account, region, name, version, code.blob_id, problem)

    def _clear(self, account: str, region: str, name: str, version: str) -> None:
        with self.store.write() as w:
            w.delete(PENDING_NS, pack(account, region, name, version))

    def _finish(
        self, account: str, region: str, name: str, version: str, blob: str, problem: str | None
    ) -> None:
        latest = version == "$LATEST"
        key = fn_key(account, region, name) if latest else ver_key(account, region, name, int(version))
        with self.store.write() as w:
            raw = w.get(NS, key)
            if raw is None:
                w.delete(PENDING_NS, pack(account, region, name, version))
                return
            rec: FunctionRecord | VersionRecord = (
                FunctionRecord.load(raw) if latest else VersionRecord.load(raw)
            )
            if rec.code.blob_id != blob:
                self._wake.set()  # the code changed meanwhile: check the new one next pass
                return
            w.delete(PENDING_NS, pack(account, region, name, version))
            apply_outcome(rec.config, problem)
            w.put(NS, key, rec.dump())


def apply_outcome(config: dict[str, object], problem: str | None) -> None:
    for k in ("StateReason", "StateReasonCode", "LastUpdateStatusReason", "LastUpdateStatusReasonCode"):
        config.pop(k, None)
    creating = config.get("State") == "Pending"
    if problem is None:
        config["State"] = "Active"
        config["LastUpdateStatus"] = "Successful"
        return
    if creating or config.get("State") == "Failed":
        config["State"] = "Failed"
        config["StateReason"] = problem
        config["StateReasonCode"] = "InvalidZipFileException"
    config["LastUpdateStatus"] = "Failed"
    config["LastUpdateStatusReason"] = problem
    config["LastUpdateStatusReasonCode"] = "InvalidZipFileException"
