"""Deployment packages: size limits, zip checks, content-addressed storage, download URLs.

A zip is stored once per (account, region, SHA-256): the blob id is found
through an index record in the store, so publishing a version or re-uploading
the same code takes no more space. `CodeSha256` is the base64 SHA-256 of the
zip, as on AWS. `GetFunction` hands out `Code.Location`, a URL on Squall
itself signed with HMAC-SHA256 over (blob id, expiry).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets
import time
import urllib.parse
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from squall.engine import codecache
from squall.protocol.errors import ServiceError
from squall.storage import BlobStore, Store, pack

NS = "lambda.code"
ZIPPED_LIMIT = 50 * 1024 * 1024  # direct upload (ZipFile)
UNZIPPED_LIMIT = codecache.UNZIPPED_LIMIT
URL_LIFETIME_SECONDS = 600
URL_PREFIX = "/_squall/lambda/code/"


@dataclass(frozen=True)
class CodeRef:
    blob_id: str
    sha256: str  # base64, as CodeSha256
    size: int
    unzipped: int = 0  # counted at upload (0: stored before sizes were counted, or unreadable)

    def to_json(self) -> dict[str, object]:
        return {"blob": self.blob_id, "sha": self.sha256, "size": self.size, "unzipped": self.unzipped}

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> CodeRef:
        return cls(
            str(raw["blob"]),
            str(raw["sha"]),
            int(raw["size"]),  # type: ignore[call-overload]
            int(raw.get("unzipped", 0)),  # type: ignore[call-overload]
        )


def check_upload_size(data: bytes) -> None:
    if len(data) > ZIPPED_LIMIT:
        raise ServiceError(
            "RequestEntityTooLargeException",
            f"Request must be smaller than {ZIPPED_LIMIT} bytes for the CreateFunction operation",
            413,
            fields={"Type": "User"},
        )


def too_big() -> ServiceError:
    return ServiceError(
        "InvalidParameterValueException",
        f"Unzipped size must be smaller than {UNZIPPED_LIMIT} bytes",
        400,
        fields={"Type": "User"},
    )


def combined_too_big(size: int) -> ServiceError:
    """AWS's error for a function whose code and layers together pass the unzipped limit."""
    return ServiceError(
        "InvalidParameterValueException",
        f"Function code combined with layers exceeds the maximum allowed size of {UNZIPPED_LIMIT} bytes. "
        f"The actual size is {size} bytes.",
        400,
        fields={"Type": "User"},
    )


#: AWS's answer to bytes it cannot unzip at CreateFunction / UpdateFunctionCode / PublishLayerVersion
#: (recorded: boto/boto3#488, terraform-aws-github-runner#2269 with `Type: User`, Sparticuz/chromium#322).
UNZIP_FAILED = "Could not unzip uploaded file. Please check your file, then try to upload again."


def measure(data: bytes) -> int:
    """The package's real unzipped size, counted while inflating (the zip's declared sizes are
    not trusted); AWS's error past 262,144,000 bytes or for an entry or symbolic link that would
    land outside the code directory; AWS's "Could not unzip uploaded file" for bytes that are
    not a readable zip. Blocking (inflates up to 250 MB): call it
    in a thread."""
    try:
        return codecache.scan(data, UNZIPPED_LIMIT)
    except codecache.TooBig:
        raise too_big() from None
    except codecache.ZipRefused as exc:
        raise ServiceError(
            "InvalidParameterValueException",
            f"Could not unzip uploaded file. Please check your file, then try to upload again. ({exc})",
            400,
            fields={"Type": "User"},
        ) from None
    except codecache.CodeCacheError:  # not a zip, or a damaged one: AWS refuses it at upload
        raise ServiceError(
            "InvalidParameterValueException", UNZIP_FAILED, 400, fields={"Type": "User"}
        ) from None


def zip_problem(data: bytes) -> str | None:
    """Why `data` is not a usable deployment package, or None when it is."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
        return f"Could not unzip uploaded file. Please check your file, then try to upload again. ({exc})"
    if bad is not None:
        return f"Could not unzip uploaded file. Please check your file, then try to upload again. (bad entry {bad})"
    return None


class CodeStore:
    """Zips in the blob store, indexed by their digest."""

    def __init__(self, store: Store, blobs: BlobStore) -> None:
        self.store = store
        self.blobs = blobs
        self._secret = self._load_secret()
        self._released: list[Callable[[], None]] = []

    def on_release(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after `release` dropped references (the invoker collects unused trees)."""
        self._released.append(listener)

    def _load_secret(self) -> bytes:
        key = pack("", "", "url-secret")
        with self.store.read() as r:
            found = r.get(NS, key)
        if found is not None:
            return bytes(found)
        fresh = secrets.token_bytes(32)
        with self.store.write() as w:
            existing = w.get(NS, key)
            if existing is not None:
                return bytes(existing)
            w.put(NS, key, fresh)
        return fresh

    def put(self, account: str, region: str, data: bytes, unzipped: int = 0) -> CodeRef:
        """Store `data` (once per digest) and return its reference (blocking: hashes and fsyncs)."""
        digest = hashlib.sha256(data).digest()
        sha = base64.b64encode(digest).decode()
        key = pack(account, region, "sha", digest.hex())
        with self.store.read() as r:
            found = r.get(NS, key)
        if found is not None:
            blob_id = orjson.loads(found)["blob"]
            if self.blobs.exists(blob_id):
                return CodeRef(blob_id, sha, len(data), unzipped)
        ref = self.blobs.put(data)
        with self.store.write() as w:
            w.put(NS, key, orjson.dumps({"blob": ref.id}))
        return CodeRef(ref.id, sha, len(data), unzipped)

    def release(self, account: str, region: str, blob_ids: set[str]) -> None:
        """Drop the zips in `blob_ids` that no function or version of (account, region) uses
        any more. Call after the transaction that dropped the references committed."""
        from squall.services.lambda_.functions import NS as FN_NS

        if not blob_ids:
            return
        for listener in self._released:
            listener()
        unused = set(blob_ids)
        with self.store.write() as w:
            for kind in ("fn", "ver"):
                for _, raw in w.scan(FN_NS, prefix=pack(account, region, kind)):
                    unused.discard(orjson.loads(raw)["code"]["blob"])
            if not unused:
                return
            for key, raw in list(w.scan(NS, prefix=pack(account, region, "sha"))):
                if orjson.loads(raw)["blob"] in unused:
                    w.delete(NS, key)
        for blob_id in unused:
            self.blobs.delete(blob_id)

    def read(self, ref: CodeRef) -> bytes:
        return self.blobs.read(ref.blob_id)

    # -- presigned download URLs ------------------------------------------------------------

    def _signature(self, blob_id: str, expires: int) -> str:
        return hmac.new(self._secret, f"{blob_id}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def presigned_url(self, endpoint: str, ref: CodeRef, *, now: float | None = None) -> str:
        return self.presigned_blob_url(endpoint, ref.blob_id, now=now)

    def presigned_blob_url(self, endpoint: str, blob_id: str, *, now: float | None = None) -> str:
        """A signed, expiring download URL for a zip blob (function code or a layer version)."""
        expires = int((now if now is not None else time.time()) + URL_LIFETIME_SECONDS)
        query = urllib.parse.urlencode({"Expires": expires, "Signature": self._signature(blob_id, expires)})
        return f"{endpoint.rstrip('/')}{URL_PREFIX}{blob_id}?{query}"

    def verify_url(self, path: str, query_string: str, *, now: float | None = None) -> str | None:
        """The blob id a signed URL grants, or None if the URL is forged, altered or expired."""
        if not path.startswith(URL_PREFIX):
            return None
        blob_id = path[len(URL_PREFIX) :]
        query = urllib.parse.parse_qs(query_string)
        try:
            expires = int(query["Expires"][0])
            signature = query["Signature"][0]
        except (KeyError, ValueError, IndexError):
            return None
        if expires < (now if now is not None else time.time()):
            return None
        if not hmac.compare_digest(signature, self._signature(blob_id, expires)):
            return None
        return blob_id if self.blobs.exists(blob_id) else None
