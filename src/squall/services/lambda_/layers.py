"""Lambda layers: immutable, numbered layer versions whose zip lives in the blob store.

Namespace `lambda.layer` holds (account, region, name, version) -> the version's record.
A deleted version moves to `lambda.layer_deleted`: it can no longer be added to a
function, but functions that already use it keep their copy (as on AWS), so its
blob stays resolvable through `content_blob`. Version numbers come from a durable
sequence per layer name and are never reused, even after every version is deleted.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import re
import zipfile
from collections.abc import Callable, Sequence
from typing import Any

from squall.protocol.errors import ServiceError
from squall.services.context import Principal
from squall.services.lambda_.attachment_util import dumps, invalid, iso_millis, loads, not_found, now
from squall.services.lambda_.code import measure
from squall.services.lambda_.code_source import from_s3
from squall.services.lambda_.contracts import LayerUse
from squall.services.lambda_.layer_policy import NS as NS_POLICY
from squall.services.lambda_.layer_policy import LayerPolicies, readable_by
from squall.services.ports import ObjectReader
from squall.storage import BlobStore, Store, pack

NS = "lambda.layer"
NS_DELETED = "lambda.layer_deleted"
MAX_ZIP = 50 * 1024 * 1024
MAX_LAYERS = 5
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_LAYER_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z]{2}(?:-gov)?-[a-z]+-\d):(?P<account>\d{12}):layer:"
    r"(?P<name>[a-zA-Z0-9_-]{1,140})(?::(?P<version>[0-9]+))?$"
)


def layer_arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{account}:layer:{name}"


def parse_layer_name(value: str, account: str, region: str) -> tuple[str, str, str]:
    """A `LayerName` (name or layer ARN) as (account, region, name)."""
    if _NAME.match(value):
        return account, region, value
    m = _LAYER_ARN.match(value)
    if m is None or m.group("version") is not None:
        raise invalid(f"Invalid layer name or ARN: {value}")
    return m.group("account"), m.group("region"), m.group("name")


def parse_layer_version_arn(arn: str) -> tuple[str, str, str, int]:
    m = _LAYER_ARN.match(arn)
    if m is None or m.group("version") is None:
        raise ServiceError(
            "ValidationException",
            f"1 validation error detected: Value '{arn}' at 'arn' failed to satisfy constraint: Member must "
            "satisfy regular expression pattern: "
            r"(arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:layer:"
            r"[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)",
            400,
        )
    return m.group("account"), m.group("region"), m.group("name"), int(m.group("version"))


class LayerStore:
    """Layer versions, and the `LayerResolver` the functions part uses for `Layers`."""

    def __init__(self, store: Store, blobs: BlobStore) -> None:
        self._store = store
        self._blobs = blobs
        self._policies = LayerPolicies(store)
        #: S3's object reader for Content.S3Bucket/S3Key (given to `LambdaProvider` by the composition root).
        self.objects: ObjectReader | None = None

    async def publish(
        self, principal: Principal, region: str, name: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        """PublishLayerVersion: the zip measured (inflated and counted, AWS's unzipped limit) and
        stored in a thread, so a zip bomb or a 40,000-file layer never stalls the event loop."""
        account, region, name = parse_layer_name(name, principal.account_id, region)
        content = params.get("Content") or {}
        from_bucket = content.get("S3Bucket") or content.get("S3Key")
        data = (
            await asyncio.to_thread(from_s3, self.objects, principal, region, content)
            if from_bucket
            else content.get("ZipFile")
        )
        if not data:
            raise invalid("Please provide a source for layer content: ZipFile, or S3Bucket and S3Key.")
        if len(data) > MAX_ZIP:
            raise ServiceError(
                "RequestEntityTooLargeException",
                "Request must be smaller than 69905067 bytes for the PublishLayerVersion operation",
                413,
                fields={"Type": "User"},
            )
        if not _is_zip(data):
            raise invalid("Uploaded file must be a non-empty zip")
        unzipped = await asyncio.to_thread(measure, data)
        ref = await asyncio.to_thread(self._blobs.put, data)
        sha = base64.b64encode(binascii.unhexlify(ref.sha256_hex)).decode()
        with self._store.write() as w:
            version = w.next_sequence(f"lambda.layer:{account}:{region}:{name}")
            arn = layer_arn(account, region, name)
            record: dict[str, Any] = {
                "LayerArn": arn,
                "LayerVersionArn": f"{arn}:{version}",
                "Description": params.get("Description", ""),
                "CreatedDate": iso_millis(now()),
                "Version": version,
                "CompatibleRuntimes": params.get("CompatibleRuntimes") or [],
                "CompatibleArchitectures": params.get("CompatibleArchitectures") or [],
                "LicenseInfo": params.get("LicenseInfo"),
                "CodeSha256": sha,
                "CodeSize": ref.size,
                "Blob": ref.id,
                "UnzippedSize": unzipped,
            }
            w.put(NS, pack(account, region, name, version), dumps(record))
        return record

    def get(self, account: str, region: str, name: str, version: int) -> dict[str, Any]:
        """A layer version; `account` is the caller's (a layer ARN may name another account's
        layer, readable when its layer version policy allows the caller)."""
        owner, region, name = parse_layer_name(name, account, region)
        key = pack(owner, region, name, version)
        with self._store.read() as r:
            raw = r.get(NS, key)
            allowed = raw is not None and readable_by(r, key, owner, account)
        if raw is None:
            raise not_found("The resource you requested does not exist.")
        rec: dict[str, Any] = loads(raw)
        if not allowed:
            raise _access_denied(account, "lambda:GetLayerVersion", rec["LayerVersionArn"])
        return rec

    def get_by_arn(self, caller: str, arn: str) -> dict[str, Any]:
        owner, region, name, version = parse_layer_version_arn(arn)
        return self.get(caller, region, layer_arn(owner, region, name), version)

    def versions(
        self, account: str, region: str, name: str, runtime: str | None = None, arch: str | None = None
    ) -> list[dict[str, Any]]:
        """Live versions of one layer, newest first, filtered as ListLayerVersions filters;
        of another account's layer, only the versions the caller may use."""
        owner, region, name = parse_layer_name(name, account, region)
        with self._store.read() as r:
            rows = [
                loads(v)
                for k, v in r.scan(NS, prefix=pack(owner, region, name), reverse=True)
                if readable_by(r, k, owner, account)
            ]
        return [rec for rec in rows if _compatible(rec, runtime, arch)]

    def layers(
        self, account: str, region: str, runtime: str | None, arch: str | None
    ) -> list[dict[str, Any]]:
        """ListLayers: each layer with its latest version matching the filters, by name."""
        latest: dict[str, dict[str, Any]] = {}
        with self._store.read() as r:
            for _, raw in r.scan(NS, prefix=pack(account, region)):
                rec = loads(raw)
                if _compatible(rec, runtime, arch):
                    latest[rec["LayerArn"]] = rec  # keys ascend by version: the last one wins
        return [latest[k] for k in sorted(latest, key=lambda a: a.rsplit(":", 1)[1])]

    def delete(self, account: str, region: str, name: str, version: int) -> None:
        """Idempotent, as on AWS: deleting a missing version succeeds."""
        owner, region, name = parse_layer_name(name, account, region)
        if owner != account:
            raise _access_denied(
                account, "lambda:DeleteLayerVersion", f"{layer_arn(owner, region, name)}:{version}"
            )
        key = pack(owner, region, name, version)
        with self._store.write() as w:
            raw = w.get(NS, key)
            if raw is not None:
                w.delete(NS, key)
                w.delete(NS_POLICY, key)
                w.put(NS_DELETED, key, raw)

    # -- layer version permissions ---------------------------------------------------------------

    def _owned_key(
        self, account: str, region: str, name: str, version: int, action: str
    ) -> tuple[bytes, str]:
        owner, region, name = parse_layer_name(name, account, region)
        arn = f"{layer_arn(owner, region, name)}:{version}"
        if owner != account:
            raise _access_denied(account, action, arn)
        key = pack(owner, region, name, version)
        with self._store.read() as r:
            if r.get(NS, key) is None:
                raise not_found(f"Layer version {arn} does not exist.")
        return key, arn

    def add_permission(
        self, account: str, region: str, name: str, version: int, params: dict[str, Any]
    ) -> tuple[dict[str, Any], str]:
        key, arn = self._owned_key(account, region, name, version, "lambda:AddLayerVersionPermission")
        return self._policies.add(key, arn, params)

    def remove_permission(
        self, account: str, region: str, name: str, version: int, sid: str, revision: str | None
    ) -> None:
        key, _ = self._owned_key(account, region, name, version, "lambda:RemoveLayerVersionPermission")
        self._policies.remove(key, sid, revision)

    def policy(self, account: str, region: str, name: str, version: int) -> tuple[dict[str, Any], str]:
        key, _ = self._owned_key(account, region, name, version, "lambda:GetLayerVersionPolicy")
        return self._policies.document(key)

    # -- LayerResolver -------------------------------------------------------------------------------

    def describe(self, account_id: str, region: str, arns: Sequence[str]) -> list[LayerUse]:
        if len(arns) > MAX_LAYERS:
            raise invalid(f"Cannot reference more than {MAX_LAYERS} layers.")
        uses: list[LayerUse] = []
        seen: dict[str, str] = {}
        for arn in arns:
            m = _LAYER_ARN.match(arn)
            if m is None or m.group("version") is None:
                raise invalid(f"Layer version {arn} does not exist.")
            unversioned = arn.rsplit(":", 1)[0]
            if unversioned in seen:
                raise invalid(
                    "Two different versions of the same layer are not allowed to be referenced in the same "
                    f"function. {seen[unversioned]} and {arn} are versions of the same layer."
                )
            seen[unversioned] = arn
            key = pack(m.group("account"), m.group("region"), m.group("name"), int(m.group("version")))
            with self._store.read() as r:
                raw = r.get(NS, key)
                allowed = raw is not None and readable_by(r, key, m.group("account"), account_id)
            if raw is None:
                raise invalid(f"Layer version {arn} does not exist.")
            if not allowed:
                raise _access_denied(account_id, "lambda:GetLayerVersion", arn)
            if m.group("region") != region:
                raise invalid(
                    f"Layers are not in the same region as the function. Layers are expected to be "
                    f"in region {region}."
                )
            rec = loads(raw)
            uses.append(
                LayerUse(
                    arn=rec["LayerVersionArn"],
                    code_size=rec["CodeSize"],
                    unzipped_size=int(rec.get("UnzippedSize") or 0),
                )
            )
        return uses

    def content_blob(self, arn: str) -> str:
        account, region, name, version = parse_layer_version_arn(arn)
        key = pack(account, region, name, version)
        with self._store.read() as r:
            raw = r.get(NS, key) or r.get(NS_DELETED, key)
        if raw is None:
            raise not_found(f"Layer version {arn} does not exist.")
        return str(loads(raw)["Blob"])


def _access_denied(caller: str, action: str, arn: str) -> ServiceError:
    return ServiceError(
        "AccessDeniedException",
        f"User: arn:aws:iam::{caller}:root is not authorized to perform: {action} on resource: {arn}",
        403,
    )


def _compatible(rec: dict[str, Any], runtime: str | None, arch: str | None) -> bool:
    if runtime and runtime not in rec["CompatibleRuntimes"]:
        return False
    return not (arch and arch not in rec["CompatibleArchitectures"])


def _is_zip(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return len(z.namelist()) > 0
    except zipfile.BadZipFile:
        return False


def version_output(
    rec: dict[str, Any], *, with_content: bool, location: Callable[[str], str] | None = None
) -> dict[str, Any]:
    """A layer version as the API reports it (LayerVersionContentOutput / LayerVersionsListItem).
    `location` turns the version's blob id into its signed download URL (`Content.Location`)."""
    out: dict[str, Any] = {
        "LayerVersionArn": rec["LayerVersionArn"],
        "Version": rec["Version"],
        "Description": rec["Description"],
        "CreatedDate": rec["CreatedDate"],
        "CompatibleRuntimes": rec["CompatibleRuntimes"],
        "CompatibleArchitectures": rec["CompatibleArchitectures"],
    }
    if rec.get("LicenseInfo") is not None:
        out["LicenseInfo"] = rec["LicenseInfo"]
    if with_content:
        out["LayerArn"] = rec["LayerArn"]
        out["Content"] = {"CodeSha256": rec["CodeSha256"], "CodeSize": rec["CodeSize"]}
        if location is not None:
            out["Content"] = {"Location": location(rec["Blob"]), **out["Content"]}
    return out
