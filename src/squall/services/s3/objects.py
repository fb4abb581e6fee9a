"""Object operations: put, get, head, delete (one and many), copy, tagging."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext
from squall.services.operations import operation
from squall.services.s3 import models as m
from squall.services.s3.buckets import Buckets, tag_dict, tag_list
from squall.services.s3.data import S3Data
from squall.services.s3.lifecycle_rules import expiration_header
from squall.services.s3.models import Bucket, ObjectVersion
from squall.services.s3.reading import BodyStream, check_conditions, parse_range
from squall.services.s3.tiers import Day, invalid_object_state, not_in_active_tier, readable, restore_header

#: Content headers stored with an object and returned on GET/HEAD (Expires as epoch seconds).
CONTENT_HEADERS = ("ContentEncoding", "ContentDisposition", "ContentLanguage", "CacheControl", "Expires")
_RESPONSE_OVERRIDES = {
    "ResponseContentType": "ContentType", "ResponseContentLanguage": "ContentLanguage",
    "ResponseExpires": "Expires", "ResponseCacheControl": "CacheControl",
    "ResponseContentDisposition": "ContentDisposition", "ResponseContentEncoding": "ContentEncoding",
}  # fmt: skip
_QUERY_NAMES = {
    "ResponseContentType": "response-content-type", "ResponseContentLanguage": "response-content-language",
    "ResponseExpires": "response-expires", "ResponseCacheControl": "response-cache-control",
    "ResponseContentDisposition": "response-content-disposition",
    "ResponseContentEncoding": "response-content-encoding",
}  # fmt: skip


#: Characters a response header value cannot carry (HTTP field values: no CR, LF, NUL or other
#: control character but tab); a `response-*` query parameter holding one is refused.
_NOT_IN_HEADER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _header_value(param: str, value: Any) -> Any:
    """`value` of a `response-*` override, refused (400 InvalidArgument) if it cannot be sent as a
    header: a CR/LF in a presigned URL's response-content-type used to drop the connection."""
    if isinstance(value, str) and _NOT_IN_HEADER.search(value):
        raise m.invalid_argument(
            "Header value contains invalid characters.",
            _QUERY_NAMES[param],
            value.encode("unicode_escape").decode("ascii"),
        )
    return value


def content_of(params: dict[str, Any]) -> tuple[str | None, dict[str, str]]:
    headers: dict[str, str] = {}
    for name in CONTENT_HEADERS:
        value = params.get(name)
        if isinstance(value, datetime):
            headers[name] = str(value.timestamp())
        elif value is not None:
            headers[name] = str(value)
    return params.get("ContentType"), headers


def storage_class(params: dict[str, Any]) -> str:
    value = params.get("StorageClass") or "STANDARD"
    if value not in m.STORAGE_CLASSES:
        raise ServiceError(
            "InvalidStorageClass",
            "The storage class you specified is not valid",
            400,
            fields={"StorageClassRequested": value},
        )
    return str(value)


def tags_header(value: str | None) -> dict[str, str]:
    if not value:
        return {}
    return tag_dict([{"Key": k, "Value": v} for k, v in parse_qsl(value, keep_blank_values=True)])


def checksum_fields(version: ObjectVersion) -> dict[str, Any]:
    out: dict[str, Any] = {
        f"Checksum{alg}": v for alg, v in version.checksums.items() if alg != "Content-MD5"
    }
    if out:
        out["ChecksumType"] = (
            "COMPOSITE" if version.multipart and "CRC64NVME" not in version.checksums else "FULL_OBJECT"
        )
    return out


def version_fields(bucket: Bucket, version: ObjectVersion) -> dict[str, Any]:
    return {"VersionId": version.version_id} if bucket.versioning else {}


class Objects:
    def __init__(self, data: S3Data, buckets: Buckets, day: Day | None = None) -> None:
        self.data = data
        self.buckets = buckets
        self.day = day or Day()

    def expiration(self, bucket: Bucket, version: ObjectVersion) -> dict[str, Any]:
        """`x-amz-expiration` of a current version a lifecycle rule will expire."""
        header = expiration_header(bucket, version, self.day)
        return {"Expiration": header} if header else {}

    @operation("PutObject")
    async def put_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.buckets.owned(ctx, params["Bucket"], params.get("Key"))
        key = params["Key"]
        m.check_key(key)
        body = params.get("Body", b"")
        declared = getattr(body, "length", None)
        if declared is not None and declared > m.MAX_PUT_BYTES:
            raise ServiceError(
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size",
                400,
                fields={"ProposedSize": declared, "MaxSizeAllowed": m.MAX_PUT_BYTES},
            )
        content_type, headers = content_of(params)
        sclass = storage_class(params)
        tags = tags_header(params.get("Tagging"))
        writer = await self.data.write_body(body, staged=True)
        version = ObjectVersion(
            key=key,
            version_id=self.data.new_version_id(bucket),
            seq=0,
            last_modified=time.time(),
            etag=f'"{writer.md5_hex}"',
            size=writer.size,
            parts=[(writer.id, writer.size)],
            content_type=content_type or "binary/octet-stream",
            headers=headers,
            metadata=params.get("Metadata") or {},
            storage_class=sclass,
            checksums=dict(getattr(body, "checksums", {})),
            tags=tags,
        )
        version = self.data.commit_version(bucket, version, "ObjectCreated:Put", new_body=writer)
        return {
            "ETag": version.etag,
            **version_fields(bucket, version),
            **checksum_fields(version),
            **self.expiration(bucket, version),
        }

    def _readable(
        self, ctx: RequestContext, params: dict[str, Any], inline: dict[str, bytes] | None = None
    ) -> tuple[Bucket, ObjectVersion]:
        bucket = self.buckets.owned(ctx, params["Bucket"], params.get("Key"))
        version_id = params.get("VersionId")
        version = self.data.find(bucket.name, params["Key"], version_id, inline)
        if version.delete_marker:
            raise ServiceError(
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
                405,
                fields={"Method": "HEAD" if ctx.operation == "HeadObject" else "GET",
                        "ResourceType": "DeleteMarker"},
                headers={"x-amz-delete-marker": "true", "x-amz-version-id": version.version_id},
            )  # fmt: skip
        return bucket, version

    def _describe(self, bucket: Bucket, version: ObjectVersion, params: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "AcceptRanges": "bytes",
            "LastModified": datetime.fromtimestamp(int(version.last_modified), UTC),
            "ContentLength": version.size,
            "ETag": version.etag,
            "ContentType": version.content_type,
            "Metadata": version.metadata,
            **version_fields(bucket, version),
        }
        for name, value in version.headers.items():
            out[name] = datetime.fromtimestamp(float(value), UTC) if name == "Expires" else value
        if version.storage_class != "STANDARD":
            out["StorageClass"] = version.storage_class
        restore = restore_header(version, time.time())
        if restore is not None:
            out["Restore"] = restore
        if params.get("VersionId") is None:
            out.update(self.expiration(bucket, version))
        if version.tags:
            out["TagCount"] = len(version.tags)
        if version.multipart:
            out["PartsCount"] = len(version.parts)
        if params.get("ChecksumMode") == "ENABLED":
            out.update(checksum_fields(version))
        for param, name in _RESPONSE_OVERRIDES.items():
            if params.get(param) is not None:
                out[name] = _header_value(param, params[param])
        return out

    def _window(self, version: ObjectVersion, params: dict[str, Any]) -> tuple[int, int, dict[str, Any]]:
        """(offset, length, extra output) for Range / PartNumber."""
        size = version.size
        part_number = params.get("PartNumber")
        if part_number is not None:
            if params.get("Range") is not None:
                raise m.invalid_argument("Cannot specify both Range header and partNumber query parameter")
            count = len(version.parts) if version.multipart else 1
            if part_number < 1 or part_number > count:
                raise ServiceError(
                    "InvalidPartNumber", "The requested partnumber is not satisfiable", 416,
                    fields={"PartNumberRequested": part_number, "ActualPartCount": count},
                )  # fmt: skip
            if not version.multipart:
                return 0, size, {}
            offset = sum(s for _, s in version.parts[: part_number - 1])
            length = version.parts[part_number - 1][1]
            extra = {"ContentRange": f"bytes {offset}-{offset + length - 1}/{size}", "PartsCount": count}
            return offset, length, extra
        header = params.get("Range")
        window = parse_range(header, size) if header else None
        if window is None:
            return 0, size, {}
        first, last = window
        return first, last - first + 1, {"ContentRange": f"bytes {first}-{last}/{size}"}

    @operation("GetObject")
    def get_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        inline: dict[str, bytes] = {}
        bucket, version = self._readable(ctx, params, inline)
        if not readable(version, time.time()):
            raise invalid_object_state(version)
        check_conditions(params, version)
        offset, length, extra = self._window(version, params)
        out = self._describe(bucket, version, params)
        out.update(extra)
        out["ContentLength"] = length
        if "ContentRange" in extra and not (version.multipart and params.get("PartNumber")):
            out.pop("ChecksumType", None)
            for alg in version.checksums:
                out.pop(f"Checksum{alg}", None)
        status = 206 if "ContentRange" in extra else None
        out["Body"] = BodyStream(self.data, version.parts, offset, length, status, inline)
        return out

    @operation("HeadObject")
    def head_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket, version = self._readable(ctx, params)
        check_conditions(params, version)
        _, length, extra = self._window(version, params)
        out = self._describe(bucket, version, params)
        out.update(extra)
        out["ContentLength"] = length
        return out

    @operation("DeleteObject")
    def delete_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.buckets.owned(ctx, params["Bucket"], params.get("Key"))
        return self._delete(ctx, bucket, params["Key"], params.get("VersionId"))

    def _delete(
        self, ctx: RequestContext, bucket: Bucket, key: str, version_id: str | None
    ) -> dict[str, Any]:
        if version_id is not None:
            for version in self.data.versions(bucket.name, key):
                if version.version_id == version_id:
                    self.data.delete_version(bucket, version)
                    out: dict[str, Any] = {"VersionId": version_id}
                    if version.delete_marker:
                        out["DeleteMarker"] = True
                    return out
            return {"VersionId": version_id}
        if not bucket.versioning:
            current = self.data.current(bucket.name, key)
            if current is not None:
                self.data.delete_version(bucket, current)
            return {}
        marker = ObjectVersion(
            key=key, version_id=self.data.new_version_id(bucket), seq=0, last_modified=time.time(),
            delete_marker=True,
        )  # fmt: skip
        marker = self.data.commit_version(bucket, marker, "ObjectRemoved:DeleteMarkerCreated")
        return {"DeleteMarker": True, "VersionId": marker.version_id}

    @operation("DeleteObjects")
    def delete_objects(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.buckets.owned(ctx, params["Bucket"], params.get("Key"))
        request = params["Delete"]
        items = request.get("Objects") or []
        if len(items) > 1000:
            raise ServiceError("MalformedXML", "The XML you provided was not well-formed or did not "
                               "validate against our published schema", 400)  # fmt: skip
        deleted: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for item in items:
            key, version_id = item["Key"], item.get("VersionId")
            try:
                m.check_key(key)
                result = self._delete(ctx, bucket, key, version_id)
            except ServiceError as err:
                errors.append({"Key": key, "Code": err.code, "Message": err.message,
                               **({"VersionId": version_id} if version_id else {})})  # fmt: skip
                continue
            entry: dict[str, Any] = {"Key": key}
            if version_id:
                entry["VersionId"] = version_id
            if result.get("DeleteMarker"):
                entry["DeleteMarker"] = True
                if not version_id:
                    entry["DeleteMarkerVersionId"] = result["VersionId"]
            deleted.append(entry)
        out: dict[str, Any] = {"Errors": errors} if errors else {}
        if not request.get("Quiet"):
            out["Deleted"] = deleted
        return out

    @operation("CopyObject")
    async def copy_object(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.buckets.owned(ctx, params["Bucket"], params.get("Key"))
        key = params["Key"]
        m.check_key(key)
        src_bucket, src = self.copy_source(ctx, params["CopySource"])
        check_conditions(params, src, prefix="CopySourceIf")
        directive = params.get("MetadataDirective") or "COPY"
        same = src_bucket.name == bucket.name and src.key == key
        if directive == "REPLACE":
            content_type, headers = content_of(params)
            metadata = params.get("Metadata") or {}
        else:
            content_type, headers, metadata = src.content_type, dict(src.headers), dict(src.metadata)
        sclass = storage_class(params) if params.get("StorageClass") else src.storage_class
        if same and directive == "COPY" and not params.get("StorageClass") and not bucket.versioning:
            raise ServiceError(
                "InvalidRequest",
                "This copy request is illegal because it is trying to copy an object to itself without "
                "changing the object's metadata, storage class, website redirect location or encryption "
                "attributes.",
                400,
            )
        tags = tags_header(params.get("Tagging")) if params.get("TaggingDirective") == "REPLACE" else src.tags
        stream = BodyStream(self.data, src.parts, 0, src.size)
        try:
            writer = await self.data.write_body(stream)
        finally:
            await stream.aclose()
        version = ObjectVersion(
            key=key, version_id=self.data.new_version_id(bucket), seq=0, last_modified=time.time(),
            etag=f'"{writer.md5_hex}"', size=writer.size, parts=[(writer.id, writer.size)],
            content_type=content_type or "binary/octet-stream", headers=headers, metadata=metadata,
            storage_class=sclass, checksums={} if src.multipart else dict(src.checksums), tags=tags,
        )  # fmt: skip
        version = self.data.commit_version(bucket, version, "ObjectCreated:Copy")
        result = {
            "ETag": version.etag,
            "LastModified": datetime.fromtimestamp(int(version.last_modified), UTC),
            **checksum_fields(version),
        }
        out: dict[str, Any] = {"CopyObjectResult": result, **version_fields(bucket, version)}
        if src_bucket.versioning:
            out["CopySourceVersionId"] = src.version_id
        return out

    def copy_source(self, ctx: RequestContext, raw: str) -> tuple[Bucket, ObjectVersion]:
        """The bucket and version an `x-amz-copy-source` names ("bucket/key[?versionId=v]")."""
        path, _, query = raw.partition("?")
        path = unquote(path).lstrip("/")
        name, _, key = path.partition("/")
        if not name or not key:
            raise m.invalid_argument("Invalid copy source object key", "x-amz-copy-source", raw)
        version_id = dict(parse_qsl(query)).get("versionId")
        bucket = self.buckets.owned(ctx, name, key, "s3:GetObject")
        version = self.data.find(bucket.name, key, version_id)
        if version.delete_marker:
            raise ServiceError("InvalidRequest", "The source of a copy request may not specifically refer "
                               "to a delete marker by version id.", 400)  # fmt: skip
        if not readable(version, time.time()):
            raise not_in_active_tier()
        return bucket, version

    @operation("PutObjectTagging")
    def put_object_tagging(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket, version = self._readable(ctx, params)
        tags = tag_dict(params["Tagging"].get("TagSet") or [])
        if len(tags) > 10:
            raise ServiceError("BadRequest", "Object tags cannot be greater than 10", 400)
        self.data.replace_tags(bucket.name, version, tags)
        return version_fields(bucket, version)

    @operation("GetObjectTagging")
    def get_object_tagging(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket, version = self._readable(ctx, params)
        return {"TagSet": tag_list(version.tags), **version_fields(bucket, version)}

    @operation("DeleteObjectTagging")
    def delete_object_tagging(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket, version = self._readable(ctx, params)
        self.data.replace_tags(bucket.name, version, {})
        return version_fields(bucket, version)
