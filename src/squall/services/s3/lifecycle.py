"""The lifecycle worker: applies buckets' lifecycle rules and follows restore timers.

One asyncio task owned by the S3 provider. It runs a pass at start, at every boundary of the
(scaled) lifecycle day (`tiers.Day`; due times of Days-based actions fall on those boundaries),
when a restore becomes ready or expires, and when RestoreObject wakes it. A pass runs on a
thread (store and blob I/O) and goes through:

- restore timers (`s3.restore`): ObjectRestore:Completed once `ready` passed, then
  ObjectRestore:Delete (the restore dropped) once `expiry` passed;
- per bucket with a configuration: current versions (Expiration, else the coldest due
  Transition), every version of versioned buckets (noncurrent transitions/expiration counted
  from when the next version was written, NewerNoncurrentVersions kept; lone expired delete
  markers removed), and incomplete multipart uploads (AbortIncompleteMultipartUpload).

Every action is one transaction that re-checks the state it changes and writes its outbox
record (`LifecycleTransition`, `LifecycleExpiration:*`, `ObjectRestore:*`) with it: a pass cut
off by a crash is simply run again, and an action already done is not done (or announced) twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterator
from typing import Any

import orjson

from squall.lib.tasks import Started
from squall.services.s3 import models as m
from squall.services.s3.data import S3Data
from squall.services.s3.lifecycle_rules import matches, may_transition, rule_prefix
from squall.services.s3.models import Bucket, ObjectVersion
from squall.services.s3.tiers import Day, coldness
from squall.storage import WriteTxn, keys

log = logging.getLogger("squall.s3")
_PAGE = 500
_MIN_SLEEP = 0.005


class _Stale(Exception):
    """The state an action was planned on changed before its transaction."""


class LifecycleWorker:
    def __init__(self, data: S3Data, day: Day) -> None:
        self.data = data
        self.day = day
        self._wakeup: asyncio.Event | None = None
        self._stopping = False
        self.passes = 0

    async def run(self, started: Started) -> None:
        """Passes at every scaled day boundary (or restore due, or `wake()`) until cancelled; a
        pass running in its thread when cancelled is told to stop and awaited before returning."""
        self._stopping = False
        self._wakeup = asyncio.Event()
        started()
        current: asyncio.Future[float] | None = None
        try:
            while True:
                self._wakeup.clear()
                began = time.time()
                current = asyncio.get_running_loop().run_in_executor(None, self.run_once, began)
                try:
                    next_restore = await asyncio.shield(current)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("s3 lifecycle pass failed (retried at the next day boundary)")
                    next_restore = math.inf
                current = None
                self.passes += 1
                wake_at = min(self.day.next_boundary(began), next_restore)
                delay = max(wake_at - time.time(), _MIN_SLEEP)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wakeup.wait()
        finally:
            self._stopping = True  # a pass in its thread checks this between buckets
            self._wakeup = None
            if current is not None:
                with contextlib.suppress(Exception):
                    await current

    def wake(self) -> None:
        """Run a pass soon (from the event loop's thread)."""
        if self._wakeup is not None:
            self._wakeup.set()

    def run_once(self, now: float) -> float:
        """One pass at time `now`; returns when the next restore timer falls due (or inf)."""
        next_due = self._restores(now)
        with self.data.store.read() as r:
            buckets = [Bucket.load(v) for _, v in r.scan(m.BUCKETS)]
        for bucket in buckets:
            if bucket.lifecycle is None or self._stopping:
                continue
            rules = [r for r in bucket.lifecycle["rules"] if r.get("Status") == "Enabled"]
            if not rules:
                continue
            for version in self._scan(m.CURRENT, m.object_prefix(bucket.name)):
                self._current(bucket, rules, version, now)
            if bucket.versioning and any(_acts_on_versions(r) for r in rules):
                self._all_versions(bucket, rules, now)
            if any(r.get("AbortIncompleteMultipartUpload") for r in rules):
                self._uploads(bucket, rules, now)
        return next_due

    def _scan(self, ns: str, prefix: bytes) -> Iterator[ObjectVersion]:
        """Versions under `prefix`, read a page per transaction (writes happen in between)."""
        start = prefix
        while not self._stopping:
            with self.data.store.read() as r:
                page = list(r.scan(ns, prefix=prefix, start=start, limit=_PAGE))
            for _, raw in page:
                yield ObjectVersion.load(raw)
            if len(page) < _PAGE:
                return
            start = page[-1][0] + b"\x00"

    # --- restores ---

    def _restores(self, now: float) -> float:
        with self.data.store.read() as r:
            entries = list(r.scan(m.RESTORES))
        next_due = math.inf
        for vkey, phase in entries:
            bucket_name = str(keys.unpack(vkey[: vkey.index(b"\x00") + 1])[0]) if b"\x00" in vkey else ""
            with self.data.store.read() as r:
                raw_bucket = r.get(m.BUCKETS, m.bucket_key(bucket_name)) if bucket_name else None
                raw = r.get(m.VERSIONS, vkey)
            if raw_bucket is None or raw is None:
                with self.data.store.write() as w:
                    w.delete(m.RESTORES, vkey)
                continue
            bucket, version = Bucket.load(raw_bucket), ObjectVersion.load(raw)
            restore = version.restore
            if restore is None:
                continue
            if phase == b"ongoing" and now >= restore["ready"]:
                self.data.amend(bucket, version, _restore_completed(vkey))
            if now >= restore["expiry"]:
                self.data.amend(bucket, version, _restore_expired(vkey, now))
            else:
                next_due = min(next_due, restore["ready"] if now < restore["ready"] else restore["expiry"])
        return next_due

    # --- current versions ---

    def _current(
        self, bucket: Bucket, rules: list[dict[str, Any]], version: ObjectVersion, now: float
    ) -> None:
        applying = [r for r in rules if matches(r, version)]
        for rule in applying:
            exp = rule.get("Expiration") or {}
            due = self._due(version.last_modified, exp.get("Days"), exp.get("Date"))
            if due is not None and due <= now:
                self._expire(bucket, version)
                return
        target = self._target(bucket, applying, version, version.last_modified, "Transitions", "Days", now)
        if target is not None:
            self.data.amend(bucket, version, _transition(target))

    def _due(self, start: float, days: int | None, date: float | None) -> float | None:
        if days is not None:
            return self.day.due(start, days)
        return float(date) if date is not None else None

    def _target(
        self, bucket: Bucket, rules: list[dict[str, Any]], version: ObjectVersion, since: float,
        field: str, days_key: str, now: float,
    ) -> str | None:  # fmt: skip
        """The coldest storage class a due transition sends the version to, if colder than now."""
        best: str | None = None
        for rule in rules:
            for t in rule.get(field) or []:
                due = self._due(since, t.get(days_key), t.get("Date"))
                cls = t["StorageClass"]
                if due is None or due > now or not may_transition(bucket.lifecycle or {}, rule, version, cls):
                    continue
                if best is None or coldness(cls) > coldness(best):
                    best = cls
        if best is None or coldness(best) <= coldness(version.storage_class):
            return None
        return best

    def _expire(self, bucket: Bucket, version: ObjectVersion) -> None:
        if not bucket.versioning:
            self.data.delete_version(bucket, version, "LifecycleExpiration:Delete")
            return
        marker = ObjectVersion(
            key=version.key, version_id=self.data.new_version_id(bucket), seq=0, last_modified=time.time(),
            delete_marker=True,
        )  # fmt: skip

        def still_current(w: WriteTxn) -> list[str]:
            raw = w.get(m.CURRENT, m.object_prefix(bucket.name, version.key))
            if raw is None or ObjectVersion.load(raw).seq != version.seq:
                raise _Stale
            return []

        with contextlib.suppress(_Stale):
            self.data.commit_version(
                bucket, marker, "LifecycleExpiration:DeleteMarkerCreated", also=still_current
            )

    # --- all versions (versioned buckets) ---

    def _all_versions(self, bucket: Bucket, rules: list[dict[str, Any]], now: float) -> None:
        group: list[ObjectVersion] = []
        for version in self._scan(m.VERSIONS, m.object_prefix(bucket.name)):
            if group and group[0].key != version.key:
                self._key_versions(bucket, rules, group, now)
                group = []
            group.append(version)
        if group and not self._stopping:
            self._key_versions(bucket, rules, group, now)

    def _key_versions(self, bucket: Bucket, rules: list[dict[str, Any]], versions: list[ObjectVersion],
                      now: float) -> None:  # fmt: skip
        """One key's versions, newest first."""
        if len(versions) == 1 and versions[0].delete_marker:
            marker = versions[0]
            for rule in rules:
                if (rule.get("Expiration") or {}).get("ExpiredObjectDeleteMarker") and matches(rule, marker):
                    self.data.delete_version(bucket, marker, "LifecycleExpiration:Delete")
                    return
        for rank, version in enumerate(versions[1:]):
            since = versions[rank].last_modified  # written when this one became noncurrent
            applying = [r for r in rules if matches(r, version)]
            expired = False
            for rule in applying:
                nce = rule.get("NoncurrentVersionExpiration") or {}
                if not nce or self.day.due(since, nce["NoncurrentDays"]) > now:
                    continue
                if rank >= (nce.get("NewerNoncurrentVersions") or 0):
                    expired = self.data.delete_version(bucket, version, "LifecycleExpiration:Delete")
                    break
            if expired or version.delete_marker:
                continue
            kept = [r for r in applying if rank >= _newer_kept(r)]
            target = self._target(
                bucket, kept, version, since, "NoncurrentVersionTransitions", "NoncurrentDays", now
            )
            if target is not None:
                self.data.amend(bucket, version, _transition(target))

    # --- multipart uploads ---

    def _uploads(self, bucket: Bucket, rules: list[dict[str, Any]], now: float) -> None:
        with self.data.store.read() as r:
            uploads = [orjson.loads(v) for _, v in r.scan(m.UPLOADS, prefix=keys.pack(bucket.name))]
        for upload in uploads:
            for rule in rules:
                abort = rule.get("AbortIncompleteMultipartUpload")
                if not abort or not upload["key"].startswith(rule_prefix(rule)):
                    continue
                if self.day.due(upload["initiated"], abort["DaysAfterInitiation"]) <= now:
                    self.data.abort_upload(bucket.name, upload["upload_id"])
                    break


def _acts_on_versions(rule: dict[str, Any]) -> bool:
    expired_markers = (rule.get("Expiration") or {}).get("ExpiredObjectDeleteMarker")
    return bool(
        rule.get("NoncurrentVersionTransitions") or rule.get("NoncurrentVersionExpiration") or expired_markers
    )


def _newer_kept(rule: dict[str, Any]) -> int:
    return max(
        [t.get("NewerNoncurrentVersions") or 0 for t in rule.get("NoncurrentVersionTransitions") or []] or [0]
    )


def _transition(target: str) -> Any:
    def change(stored: ObjectVersion, w: WriteTxn) -> tuple[ObjectVersion, str | None] | None:
        if stored.delete_marker or coldness(target) <= coldness(stored.storage_class):
            return None
        return ObjectVersion(**{**stored.__dict__, "storage_class": target}), "LifecycleTransition"

    return change


def _restore_completed(vkey: bytes) -> Any:
    def change(stored: ObjectVersion, w: WriteTxn) -> tuple[ObjectVersion, str | None] | None:
        if stored.restore is None or w.get(m.RESTORES, vkey) != b"ongoing":
            return None
        w.put(m.RESTORES, vkey, b"done")
        return stored, "ObjectRestore:Completed"

    return change


def _restore_expired(vkey: bytes, now: float) -> Any:
    def change(stored: ObjectVersion, w: WriteTxn) -> tuple[ObjectVersion, str | None] | None:
        if stored.restore is None or now < stored.restore["expiry"] or w.get(m.RESTORES, vkey) is None:
            return None
        w.delete(m.RESTORES, vkey)
        return ObjectVersion(**{**stored.__dict__, "restore": None}), "ObjectRestore:Delete"

    return change
