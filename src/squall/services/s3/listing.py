"""ListObjectsV2, ListObjects (v1) and ListObjectVersions.

Keys are listed in UTF-8 byte order (the store's key order, as on S3). With a
delimiter, keys sharing a prefix up to the delimiter collapse into one
CommonPrefix that counts once against MaxKeys; the scan then jumps past that
whole subtree (0xFF never occurs in UTF-8)."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from squall.services.base import RequestContext
from squall.services.operations import operation
from squall.services.s3 import models as m
from squall.services.s3.buckets import Buckets, owner
from squall.services.s3.data import S3Data
from squall.services.s3.models import ObjectVersion

_BATCH = 256


def _encode(value: str | None, encoding: str | None) -> str | None:
    if value is None or encoding != "url":
        return value
    return quote_plus(value, safe="/")


class Listing:
    def __init__(self, data: S3Data, buckets: Buckets) -> None:
        self.data = data
        self.buckets = buckets

    def _walk(
        self, ns: str, bucket: str, prefix: str, delimiter: str, after: str | None, inclusive: bool = False
    ) -> Iterator[tuple[str, ObjectVersion | None]]:
        """(key, version) or (common prefix, None) in order, strictly after `after`
        (from `after` itself if `inclusive`; a common prefix as `after` skips its subtree)."""
        versioned = ns == m.VERSIONS
        base = m.object_prefix(bucket, prefix)
        start = base
        if after is not None:
            at = m.object_prefix(bucket, after)
            if _is_cp(after, prefix, delimiter):
                at += b"\xff"
            elif not inclusive:
                at += b"\x00\x01" if versioned else b"\x00"
            start = max(base, at)
        while True:
            with self.data.store.read() as r:
                batch = list(r.scan(ns, prefix=base, start=start, limit=_BATCH))
            if not batch:
                return
            jumped = False
            for raw_key, raw in batch:
                key = m.key_of(raw_key, bucket, versioned)
                if delimiter:
                    cut = key.find(delimiter, len(prefix))
                    if cut >= 0:
                        cp = key[: cut + len(delimiter)]
                        yield cp, None
                        start = m.object_prefix(bucket, cp) + b"\xff"
                        jumped = True
                        break
                yield key, ObjectVersion.load(raw)
                start = raw_key + b"\x00"
            if not jumped and len(batch) < _BATCH:
                return

    def _collect(
        self, ns: str, bucket: str, params: dict[str, Any], after: str | None
    ) -> tuple[list[ObjectVersion], list[str], bool, str | None]:
        max_keys = params.get("MaxKeys")
        max_keys = 1000 if max_keys is None else min(max_keys, 1000)
        if max_keys < 0:
            raise m.invalid_argument("maxKeys should be non-negative", "maxKeys", str(max_keys))
        prefix, delimiter = params.get("Prefix") or "", params.get("Delimiter") or ""
        contents: list[ObjectVersion] = []
        prefixes: list[str] = []
        last: str | None = None
        for name, version in self._walk(ns, bucket, prefix, delimiter, after):
            if len(contents) + len(prefixes) >= max_keys:
                return contents, prefixes, True, last
            if version is None:
                prefixes.append(name)
            else:
                contents.append(version)
            last = name
        return contents, prefixes, False, last

    def _entry(
        self, v: ObjectVersion, encoding: str | None, with_owner: bool, account: str
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "Key": _encode(v.key, encoding),
            "LastModified": datetime.fromtimestamp(int(v.last_modified), UTC),
            "ETag": v.etag,
            "Size": v.size,
            "StorageClass": v.storage_class,
        }
        algorithms = [a for a in v.checksums if a != "Content-MD5"]
        if algorithms:
            entry["ChecksumAlgorithm"] = algorithms
            entry["ChecksumType"] = "FULL_OBJECT"
        if with_owner:
            entry["Owner"] = owner(account)
        return entry

    @operation("ListObjectsV2")
    def list_objects_v2(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.buckets.owned(ctx, params["Bucket"])
        encoding = params.get("EncodingType")
        token = params.get("ContinuationToken")
        after = params.get("StartAfter")
        if token is not None:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode("utf-8", "surrogatepass")
            except ValueError:
                raise m.invalid_argument(
                    "The continuation token provided is incorrect", "continuation-token", token
                ) from None
        contents, prefixes, truncated, last = self._collect(m.CURRENT, bucket.name, params, after)
        out: dict[str, Any] = {
            "Name": bucket.name,
            "Prefix": _encode(params.get("Prefix") or "", encoding),
            "MaxKeys": 1000 if params.get("MaxKeys") is None else params["MaxKeys"],
            "KeyCount": len(contents) + len(prefixes),
            "IsTruncated": truncated,
            "Contents": [
                self._entry(v, encoding, bool(params.get("FetchOwner")), bucket.account) for v in contents
            ],
            "CommonPrefixes": [{"Prefix": _encode(p, encoding)} for p in prefixes],
        }
        if "RestoreStatus" in (params.get("OptionalObjectAttributes") or []):
            now = time.time()
            for entry, v in zip(out["Contents"], contents, strict=True):
                if v.restore is not None and now < v.restore["expiry"]:
                    ongoing = now < v.restore["ready"]
                    entry["RestoreStatus"] = {"IsRestoreInProgress": ongoing} if ongoing else {
                        "IsRestoreInProgress": False,
                        "RestoreExpiryDate": datetime.fromtimestamp(v.restore["expiry"], UTC),
                    }  # fmt: skip
        for name in ("Delimiter", "StartAfter"):
            if params.get(name) is not None:
                out[name] = _encode(params[name], encoding)
        if encoding:
            out["EncodingType"] = encoding
        if token is not None:
            out["ContinuationToken"] = token
        if truncated and last is not None:
            out["NextContinuationToken"] = base64.urlsafe_b64encode(
                last.encode("utf-8", "surrogatepass")
            ).decode()
        return out

    @operation("ListObjects")
    def list_objects(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.buckets.owned(ctx, params["Bucket"])
        encoding = params.get("EncodingType")
        marker = params.get("Marker") or None
        contents, prefixes, truncated, last = self._collect(m.CURRENT, bucket.name, params, marker)
        out: dict[str, Any] = {
            "Name": bucket.name,
            "Prefix": _encode(params.get("Prefix") or "", encoding),
            "Marker": _encode(marker or "", encoding),
            "MaxKeys": 1000 if params.get("MaxKeys") is None else params["MaxKeys"],
            "IsTruncated": truncated,
            "Contents": [self._entry(v, encoding, True, bucket.account) for v in contents],
            "CommonPrefixes": [{"Prefix": _encode(p, encoding)} for p in prefixes],
        }
        if params.get("Delimiter") is not None:
            out["Delimiter"] = _encode(params["Delimiter"], encoding)
            if truncated and last is not None:
                out["NextMarker"] = _encode(last, encoding)
        if encoding:
            out["EncodingType"] = encoding
        return out

    @operation("ListObjectVersions")
    def list_object_versions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.buckets.owned(ctx, params["Bucket"])
        encoding = params.get("EncodingType")
        key_marker = params.get("KeyMarker") or None
        version_marker = params.get("VersionIdMarker") or None
        if version_marker and not key_marker:
            raise m.invalid_argument(
                "A version-id marker cannot be specified without a key marker.", "version-id-marker",
                version_marker,
            )  # fmt: skip
        skip_until = version_marker if key_marker else None
        max_keys = params.get("MaxKeys")
        max_keys = 1000 if max_keys is None else min(max_keys, 1000)
        prefix, delimiter = params.get("Prefix") or "", params.get("Delimiter") or ""
        versions: list[dict[str, Any]] = []
        markers: list[dict[str, Any]] = []
        prefixes: list[str] = []
        truncated = False
        last: tuple[str, str | None] | None = None
        previous_key: str | None = None
        walk = self._walk(
            m.VERSIONS, bucket.name, prefix, delimiter, key_marker, inclusive=skip_until is not None
        )
        for name, version in walk:
            if skip_until is not None:
                if version is not None and version.key == key_marker:
                    if version.version_id == skip_until:
                        skip_until = None
                    previous_key = version.key
                    continue
                skip_until = None
            if len(versions) + len(markers) + len(prefixes) >= max_keys:
                truncated = True
                break
            if version is None:
                prefixes.append(name)
                last = (name, None)
                continue
            entry: dict[str, Any] = {
                "Key": _encode(version.key, encoding),
                "VersionId": version.version_id,
                "IsLatest": version.key != previous_key,
                "LastModified": datetime.fromtimestamp(int(version.last_modified), UTC),
                "Owner": owner(bucket.account),
            }
            previous_key = version.key
            if version.delete_marker:
                markers.append(entry)
            else:
                entry.update(ETag=version.etag, Size=version.size, StorageClass=version.storage_class)
                versions.append(entry)
            last = (version.key, version.version_id)
        out: dict[str, Any] = {
            "Name": bucket.name,
            "Prefix": _encode(prefix, encoding),
            "KeyMarker": _encode(key_marker or "", encoding),
            "VersionIdMarker": version_marker or "",
            "MaxKeys": max_keys,
            "IsTruncated": truncated,
            "Versions": versions,
            "DeleteMarkers": markers,
            "CommonPrefixes": [{"Prefix": _encode(p, encoding)} for p in prefixes],
        }
        if params.get("Delimiter") is not None:
            out["Delimiter"] = _encode(delimiter, encoding)
        if encoding:
            out["EncodingType"] = encoding
        if truncated and last is not None:
            out["NextKeyMarker"] = _encode(last[0], encoding)
            if last[1] is not None:
                out["NextVersionIdMarker"] = last[1]
        return out


def _is_cp(after: str, prefix: str, delimiter: str) -> bool:
    return (
        bool(delimiter)
        and after.startswith(prefix)
        and after.endswith(delimiter)
        and (after.find(delimiter, len(prefix)) == len(after) - len(delimiter))
    )
