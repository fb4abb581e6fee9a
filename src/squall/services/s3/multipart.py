"""Multipart uploads: create, upload part (streamed) or part copy, complete, abort, list.

Each part is its own blob; a completed object keeps the parts' blobs as its
body (`ObjectVersion.parts`), so completing copies no data. Part records live
in `s3.part` under pack(upload id, part number) until complete or abort."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from squall.protocol.checksums import digest
from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext
from squall.services.operations import operation
from squall.services.s3 import models as m
from squall.services.s3.buckets import Buckets, owner
from squall.services.s3.data import S3Data
from squall.services.s3.models import ObjectVersion
from squall.services.s3.objects import Objects, checksum_fields, content_of, storage_class, tags_header
from squall.services.s3.reading import BodyStream, check_conditions, parse_range
from squall.storage import WriteTxn, keys

MIN_PART = 5 * 1024 * 1024
MAX_PARTS = 10000
#: Algorithms with a COMPOSITE (checksum of the part checksums) form; CRC64NVME is FULL_OBJECT only.
_COMPOSITE_ALGORITHMS = ("CRC32", "CRC32C", "SHA1", "SHA256")


def no_such_upload(upload_id: str) -> ServiceError:
    return ServiceError(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been "
        "aborted or completed.",
        404,
        fields={"UploadId": upload_id},
    )


def _invalid_part(upload_id: str, number: int, etag: str) -> ServiceError:
    return ServiceError(
        "InvalidPart",
        "One or more of the specified parts could not be found.  The part may not have been uploaded, "
        "or the specified entity tag may not match the part's entity tag.",
        400,
        fields={"UploadId": upload_id, "PartNumber": number, "ETag": etag},
    )


class Multipart:
    def __init__(self, data: S3Data, buckets: Buckets, objects: Objects) -> None:
        self.data = data
        self.buckets = buckets
        self.objects = objects

    def _upload(self, bucket: str, upload_id: str, key: str | None = None) -> dict[str, Any]:
        with self.data.store.read() as r:
            raw = r.get(m.UPLOADS, keys.pack(bucket, upload_id))
        if raw is None:
            raise no_such_upload(upload_id)
        upload: dict[str, Any] = orjson.loads(raw)
        if key is not None and upload["key"] != key:
            raise no_such_upload(upload_id)
        return upload

    def _parts(self, upload_id: str) -> dict[int, dict[str, Any]]:
        with self.data.store.read() as r:
            return {
                _int(keys.unpack(k)[1]): orjson.loads(v)
                for k, v in r.scan(m.PARTS, prefix=keys.pack(upload_id))
            }

    @operation("CreateMultipartUpload")
    def create_multipart_upload(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.buckets.owned(ctx, params["Bucket"], params.get("Key"))
        key = params["Key"]
        m.check_key(key)
        content_type, headers = content_of(params)
        upload_id = secrets.token_urlsafe(32)
        record = {
            "upload_id": upload_id, "key": key, "initiated": time.time(), "content_type": content_type,
            "headers": headers, "metadata": params.get("Metadata") or {}, "storage_class": storage_class(params),
            "tags": tags_header(params.get("Tagging")), "checksum": params.get("ChecksumAlgorithm"),
            "account": ctx.account_id,
        }  # fmt: skip
        with self.data.store.write() as w:
            w.put(m.UPLOADS, keys.pack(bucket.name, upload_id), orjson.dumps(record))
        out: dict[str, Any] = {"Bucket": bucket.name, "Key": key, "UploadId": upload_id}
        if record["checksum"]:
            out["ChecksumAlgorithm"] = record["checksum"]
            out["ChecksumType"] = "COMPOSITE"
        return out

    def _check_part_number(self, number: int) -> None:
        if not 1 <= number <= MAX_PARTS:
            raise m.invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive", "partNumber", str(number)
            )

    def _store_part(self, upload_id: str, number: int, part: dict[str, Any]) -> None:
        old = None
        with self.data.store.write() as w:
            pk = keys.pack(upload_id, number)
            raw = w.get(m.PARTS, pk)
            old = self.data.drop(w, [orjson.loads(raw)["blob"]]) if raw is not None else []
            w.put(m.PARTS, pk, orjson.dumps(part))
            w.delete(m.PENDING, keys.pack(part["blob"]))
        self.data.release_soon(old)

    @operation("UploadPart")
    async def upload_part(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.buckets.owned(ctx, params["Bucket"], params.get("Key"))
        upload_id, number = params["UploadId"], params["PartNumber"]
        self._upload(bucket.name, upload_id, params["Key"])
        self._check_part_number(number)
        body = params.get("Body", b"")
        writer = await self.data.write_body(body)
        try:
            self._upload(bucket.name, upload_id)  # aborted meanwhile?
        except ServiceError:
            self.data.release([writer.id])
            raise
        checksums = {k: v for k, v in dict(getattr(body, "checksums", {})).items() if k != "Content-MD5"}
        etag = f'"{writer.md5_hex}"'
        part = {
            "etag": etag,
            "size": writer.size,
            "blob": writer.id,
            "time": time.time(),
            "checksums": checksums,
        }
        self._store_part(upload_id, number, part)
        return {"ETag": etag, **{f"Checksum{a}": v for a, v in checksums.items()}}

    @operation("UploadPartCopy")
    async def upload_part_copy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.buckets.owned(ctx, params["Bucket"], params.get("Key"))
        upload_id, number = params["UploadId"], params["PartNumber"]
        self._upload(bucket.name, upload_id, params["Key"])
        self._check_part_number(number)
        _, src = self.objects.copy_source(ctx, params["CopySource"])
        check_conditions(params, src, prefix="CopySourceIf")
        offset, length = 0, src.size
        raw_range = params.get("CopySourceRange")
        if raw_range:
            window = parse_range(raw_range, src.size)
            if window is None or not raw_range.startswith("bytes=") or raw_range.startswith("bytes=-"):
                raise m.invalid_argument(
                    "The x-amz-copy-source-range value must be of the form bytes=first-last where first "
                    "and last are the zero-based offsets of the first and last bytes to copy",
                    "x-amz-copy-source-range", raw_range,
                )  # fmt: skip
            offset, length = window[0], window[1] - window[0] + 1
        stream = BodyStream(self.data, src.parts, offset, length)
        try:
            writer = await self.data.write_body(stream)
        finally:
            await stream.aclose()
        etag = f'"{writer.md5_hex}"'
        now = time.time()
        self._store_part(upload_id, number, {"etag": etag, "size": writer.size, "blob": writer.id,
                                             "time": now, "checksums": {}})  # fmt: skip
        out: dict[str, Any] = {
            "CopyPartResult": {"ETag": etag, "LastModified": datetime.fromtimestamp(int(now), UTC)}
        }
        if src.version_id != "null":
            out["CopySourceVersionId"] = src.version_id
        return out

    @operation("CompleteMultipartUpload")
    def complete_multipart_upload(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.buckets.owned(ctx, params["Bucket"], params.get("Key"))
        upload_id = params["UploadId"]
        upload = self._upload(bucket.name, upload_id, params["Key"])
        wanted = (params.get("MultipartUpload") or {}).get("Parts") or []
        if not wanted:
            raise ServiceError(
                "MalformedXML",
                "The XML you provided was not well-formed or did not validate against our published schema",
                400,
            )
        stored = self._parts(upload_id)
        chosen: list[dict[str, Any]] = []
        previous = 0
        for item in wanted:
            number, etag = item.get("PartNumber", 0), item.get("ETag", "")
            if number <= previous:
                raise ServiceError(
                    "InvalidPartOrder",
                    "The list of parts was not in ascending order. Parts must be ordered by part number.",
                    400,
                    fields={"UploadId": upload_id},
                )
            previous = number
            part = stored.get(number)
            if part is None or part["etag"].strip('"') != etag.strip('"'):
                raise _invalid_part(upload_id, number, etag)
            chosen.append({**part, "number": number})
        for part in chosen[:-1]:
            if part["size"] < MIN_PART:
                # AWS's wording and fields (the ETag is the part's MD5 in hex, unquoted).
                raise ServiceError(
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed size",
                    400,
                    fields={"ProposedSize": part["size"], "MinSizeAllowed": MIN_PART,
                            "PartNumber": part["number"], "ETag": part["etag"].strip('"')},
                )  # fmt: skip
        md5s = b"".join(bytes.fromhex(p["etag"].strip('"')) for p in chosen)
        etag = f'"{hashlib.md5(md5s).hexdigest()}-{len(chosen)}"'
        version = ObjectVersion(
            key=upload["key"], version_id=self.data.new_version_id(bucket), seq=0, last_modified=time.time(),
            etag=etag, size=sum(p["size"] for p in chosen), parts=[(p["blob"], p["size"]) for p in chosen],
            content_type=upload["content_type"] or "binary/octet-stream", headers=upload["headers"],
            metadata=upload["metadata"], storage_class=upload["storage_class"],
            checksums=_composite(chosen), tags=upload["tags"], multipart=True,
        )  # fmt: skip
        used = {p["blob"] for p in chosen}
        unused = [p["blob"] for p in stored.values() if p["blob"] not in used]

        def finish_upload(w: WriteTxn) -> list[str]:
            if w.get(m.UPLOADS, keys.pack(bucket.name, upload_id)) is None:
                raise no_such_upload(upload_id)  # completed or aborted meanwhile
            w.delete(m.UPLOADS, keys.pack(bucket.name, upload_id))
            for number in stored:
                w.delete(m.PARTS, keys.pack(upload_id, number))
            return self.data.drop(w, unused)

        event = "ObjectCreated:CompleteMultipartUpload"
        version = self.data.commit_version(bucket, version, event, also=finish_upload)
        out: dict[str, Any] = {
            "Location": f"{ctx.endpoint}/{bucket.name}/{upload['key']}",
            "Bucket": bucket.name,
            "Key": upload["key"],
            "ETag": etag,
            **checksum_fields(version),
        }
        if bucket.versioning:
            out["VersionId"] = version.version_id
        return out

    @operation("AbortMultipartUpload")
    def abort_multipart_upload(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.buckets.owned(ctx, params["Bucket"], params.get("Key"))
        upload_id = params["UploadId"]
        self._upload(bucket.name, upload_id, params["Key"])
        self.data.abort_upload(bucket.name, upload_id)
        return {}

    @operation("ListParts")
    def list_parts(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.buckets.owned(ctx, params["Bucket"], params.get("Key"))
        upload_id = params["UploadId"]
        upload = self._upload(bucket.name, upload_id, params["Key"])
        marker = params.get("PartNumberMarker") or 0
        max_parts = min(params.get("MaxParts") or 1000, 1000)
        numbers = sorted(n for n in self._parts(upload_id) if n > marker)
        stored = self._parts(upload_id)
        shown = numbers[:max_parts]
        out: dict[str, Any] = {
            "Bucket": bucket.name, "Key": upload["key"], "UploadId": upload_id,
            "PartNumberMarker": marker, "MaxParts": max_parts, "IsTruncated": len(numbers) > max_parts,
            "StorageClass": upload["storage_class"], "Owner": owner(bucket.account),
            "Initiator": {"ID": owner(upload["account"])["ID"], "DisplayName": upload["account"]},
            "Parts": [
                {"PartNumber": n, "ETag": stored[n]["etag"], "Size": stored[n]["size"],
                 "LastModified": datetime.fromtimestamp(int(stored[n]["time"]), UTC),
                 **{f"Checksum{a}": v for a, v in stored[n]["checksums"].items()}}
                for n in shown
            ],
        }  # fmt: skip
        if shown:
            out["NextPartNumberMarker"] = shown[-1]
        if upload["checksum"]:
            out["ChecksumAlgorithm"] = upload["checksum"]
        return out

    @operation("ListMultipartUploads")
    def list_multipart_uploads(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.buckets.owned(ctx, params["Bucket"], params.get("Key"))
        prefix = params.get("Prefix") or ""
        max_uploads = min(params.get("MaxUploads") or 1000, 1000)
        key_marker = params.get("KeyMarker") or ""
        with self.data.store.read() as r:
            uploads = [orjson.loads(v) for _, v in r.scan(m.UPLOADS, prefix=keys.pack(bucket.name))]
        uploads = [u for u in uploads if u["key"].startswith(prefix) and u["key"] > key_marker]
        uploads.sort(key=lambda u: (u["key"].encode("utf-8", "surrogatepass"), u["initiated"]))
        shown = uploads[:max_uploads]
        out: dict[str, Any] = {
            "Bucket": bucket.name, "KeyMarker": key_marker, "UploadIdMarker": params.get("UploadIdMarker") or "",
            "Prefix": prefix, "MaxUploads": max_uploads, "IsTruncated": len(uploads) > max_uploads,
            "Uploads": [
                {"UploadId": u["upload_id"], "Key": u["key"], "StorageClass": u["storage_class"],
                 "Initiated": datetime.fromtimestamp(int(u["initiated"]), UTC), "Owner": owner(bucket.account),
                 "Initiator": {"ID": owner(u["account"])["ID"], "DisplayName": u["account"]}}
                for u in shown
            ],
        }  # fmt: skip
        if out["IsTruncated"] and shown:
            out["NextKeyMarker"] = shown[-1]["key"]
            out["NextUploadIdMarker"] = shown[-1]["upload_id"]
        return out


def _composite(parts: list[dict[str, Any]]) -> dict[str, str]:
    """COMPOSITE checksums ("<checksum of the part checksums>-N") for the algorithms every part has."""
    out: dict[str, str] = {}
    for algorithm in _COMPOSITE_ALGORITHMS:
        if not all(algorithm in p["checksums"] for p in parts):
            continue
        joined = b"".join(base64.b64decode(p["checksums"][algorithm]) for p in parts)
        out[algorithm] = f"{base64.b64encode(digest(algorithm, joined)).decode()}-{len(parts)}"
    return out


def _int(value: object) -> int:
    assert isinstance(value, int)
    return value
