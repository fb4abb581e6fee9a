"""S3 records, store keys, name rules and the errors S3 answers with.

Keys in the store (bucket names are one global namespace, as on AWS; the
bucket record carries its owner account and region):

- `s3.bucket`   pack(name)                                  -> Bucket
- `s3.cur`      pack(bucket) + key UTF-8                    -> the current ObjectVersion (never a delete marker)
- `s3.ver`      pack(bucket) + key UTF-8 + 00 00 + ~seq     -> every ObjectVersion, newest first per key
- `s3.upload`   pack(bucket, upload id)                     -> Upload;  `s3.part` pack(upload id, n) -> Part
- `s3.pending`  pack(blob id)                               -> intent: a blob being written (orphan GC)
- `s3.body`     pack(inline id)                             -> a small body stored in the store (id "i...")
- `s3.outbox`   pack(sequence)                              -> ObjectEvent, committed with the change it
                                                               describes (delivered by the notifications brick)
- `s3.restore`  pack(bucket) + key UTF-8 + 00 00 + ~seq     -> b"ongoing" / b"done": versions with a restored
                                                               copy, for the lifecycle worker's restore timers

Object keys are data, never paths: bodies live in the BlobStore under random ids.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import orjson

from squall.protocol.errors import ServiceError
from squall.storage import keys

BUCKETS = "s3.bucket"
CURRENT = "s3.cur"
VERSIONS = "s3.ver"
UPLOADS = "s3.upload"
PARTS = "s3.part"
PENDING = "s3.pending"
INLINE = "s3.body"
OUTBOX = "s3.outbox"
SEQUENCE = "s3.seq"
RESTORES = "s3.restore"

MAX_KEY_BYTES = 1024
MAX_PUT_BYTES = 5 * 1024**3
_SEQ_MAX = (1 << 64) - 1

STORAGE_CLASSES = frozenset(
    {"STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER",
     "DEEP_ARCHIVE", "OUTPOSTS", "GLACIER_IR", "SNOW", "EXPRESS_ONEZONE"}
)  # fmt: skip
#: Classes whose objects must be restored before they can be read.
ARCHIVE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})


@dataclass(frozen=True)
class Bucket:
    name: str
    account: str
    region: str
    created: float
    versioning: str = ""  # "", "Enabled" or "Suspended"
    tags: dict[str, str] = field(default_factory=dict)
    policy: str | None = None
    cors: list[dict[str, Any]] | None = None
    #: The normalized NotificationConfiguration (see notify_config.py), None when never set.
    notification: dict[str, Any] | None = None
    #: The lifecycle configuration (`lifecycle_rules.py`): {"rules": [...], "min_size": "..."}.
    lifecycle: dict[str, Any] | None = None

    def dump(self) -> bytes:
        return orjson.dumps(self)  # orjson encodes dataclasses natively (as asdict, ~50x faster)

    @staticmethod
    def load(raw: bytes) -> Bucket:
        return Bucket(**orjson.loads(raw))


@dataclass(frozen=True)
class ObjectVersion:
    """One version of an object (or a delete marker). `parts` are the blobs
    holding the body in order, (blob id, size): one for a PUT, one per part
    for a completed multipart upload (served as they are, never concatenated)."""

    key: str
    version_id: str  # "null" in unversioned buckets
    seq: int
    last_modified: float
    etag: str = ""
    size: int = 0
    parts: list[tuple[str, int]] = field(default_factory=list)
    delete_marker: bool = False
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # ContentEncoding, CacheControl, ...
    metadata: dict[str, str] = field(default_factory=dict)
    storage_class: str = "STANDARD"
    checksums: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    multipart: bool = False
    #: A restore of an archived version: {"ready": epoch, "expiry": epoch, "tier": ...}.
    restore: dict[str, Any] | None = None

    def dump(self) -> bytes:
        return orjson.dumps(self)

    @staticmethod
    def load(raw: bytes) -> ObjectVersion:
        data = orjson.loads(raw)
        data["parts"] = [tuple(p) for p in data["parts"]]
        return ObjectVersion(**data)


@dataclass(frozen=True)
class ObjectEvent:
    """An object created/removed, recorded in `s3.outbox` in the same transaction when the
    bucket's notification configuration matches it; `targets` are the matching destinations
    as the configuration stood then ({"kind": "queue"|"topic"|"lambda", "arn", "id"})."""

    event: str  # e.g. "ObjectCreated:Put", "ObjectRemoved:DeleteMarkerCreated", "LifecycleTransition"
    account: str
    region: str
    bucket: str
    key: str
    size: int
    etag: str
    version_id: str | None
    sequencer: str
    time: float
    targets: list[dict[str, str]] = field(default_factory=list)
    request_id: str = ""
    principal: str = ""
    source_ip: str = "127.0.0.1"
    #: ObjectRestore:Completed only: {"expiry": epoch of the restored copy's expiry,
    #: "storage_class": the archive class it was restored from} (`glacierEventData`).
    restore: dict[str, Any] | None = None

    def dump(self) -> bytes:
        return orjson.dumps(self)

    @staticmethod
    def load(raw: bytes) -> ObjectEvent:
        return ObjectEvent(**orjson.loads(raw))


@dataclass(frozen=True)
class Caller:
    """Who made the S3 request being served (for event records): set per request by the provider."""

    request_id: str
    principal: str


CALLER: ContextVar[Caller | None] = ContextVar("s3_caller", default=None)


def bucket_key(name: str) -> bytes:
    return keys.pack(name)


def object_prefix(bucket: str, key_prefix: str = "") -> bytes:
    return keys.pack(bucket) + key_prefix.encode("utf-8", "surrogatepass")


#: Between an object's key and its version's ~seq in `s3.ver` (and `s3.restore`) keys.
VERSION_SEP = b"\x00\x00"


def version_key(bucket: str, key: str, seq: int) -> bytes:
    return version_key_at(object_prefix(bucket, key), seq)


def version_key_at(object_key: bytes, seq: int) -> bytes:
    """`version_key` from the object's `object_prefix(bucket, key)`."""
    return object_key + VERSION_SEP + (_SEQ_MAX - seq).to_bytes(8, "big")


def versions_prefix(bucket: str, key: str) -> bytes:
    return object_prefix(bucket, key) + VERSION_SEP


def key_of(raw: bytes, bucket: str, versioned: bool) -> str:
    body = raw[len(keys.pack(bucket)) :]
    if versioned:
        body = body[:-10]
    return body.decode("utf-8", "surrogatepass")


# --- names -----------------------------------------------------------------------------------

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
_IP = re.compile(r"\d+\.\d+\.\d+\.\d+\Z")


def check_bucket_name(name: str) -> None:
    """AWS's general-purpose bucket naming rules."""
    bad = (
        not _BUCKET.match(name)
        or ".." in name
        or ".-" in name
        or "-." in name
        or _IP.match(name) is not None
        or name.startswith(("xn--", "sthree-", "amzn-s3-demo-"))
        or name.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"))
    )
    if bad:
        raise ServiceError(
            "InvalidBucketName", "The specified bucket is not valid.", 400, fields={"BucketName": name}
        )


def check_key(key: str) -> None:
    if not key:
        raise ServiceError("InvalidArgument", "Object key must not be empty.", 400)
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise ServiceError(
            "KeyTooLongError",
            "Your key is too long",
            400,
            fields={"MaxSizeAllowed": MAX_KEY_BYTES, "Size": len(key.encode("utf-8", "surrogatepass"))},
        )
    if "\x00" in key:
        raise ServiceError("InvalidArgument", "Object key must not contain a null character.", 400)


# --- errors ----------------------------------------------------------------------------------


def no_such_bucket(name: str) -> ServiceError:
    return ServiceError(
        "NoSuchBucket", "The specified bucket does not exist", 404, fields={"BucketName": name}
    )


def no_such_key(key: str) -> ServiceError:
    return ServiceError("NoSuchKey", "The specified key does not exist.", 404, fields={"Key": key})


def no_such_version(key: str, version_id: str) -> ServiceError:
    return ServiceError(
        "NoSuchVersion",
        "The specified version does not exist.",
        404,
        fields={"Key": key, "VersionId": version_id},
    )


def invalid_argument(message: str, name: str | None = None, value: str | None = None) -> ServiceError:
    fields = {"ArgumentName": name, "ArgumentValue": value} if name is not None else {}
    return ServiceError("InvalidArgument", message, 400, fields=fields)


def method_not_allowed(method: str, resource: str) -> ServiceError:
    return ServiceError(
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
        405,
        fields={"Method": method, "ResourceType": resource},
    )
