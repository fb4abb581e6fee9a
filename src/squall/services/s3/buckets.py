"""Bucket operations: create/head/list/delete, location, versioning, tagging, policy, CORS."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext
from squall.services.context import Principal
from squall.services.operations import operation
from squall.services.resource_policy import allowed
from squall.services.s3 import models as m
from squall.services.s3.cors import check_rules
from squall.services.s3.data import S3Data
from squall.services.s3.models import Bucket

_REGIONS = frozenset(
    {"us-east-1", "us-east-2", "us-west-1", "us-west-2", "af-south-1", "ap-east-1", "ap-south-1",
     "ap-south-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1",
     "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ca-central-1", "ca-west-1", "cn-north-1",
     "cn-northwest-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2",
     "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "sa-east-1",
     "us-gov-east-1", "us-gov-west-1", "EU"}
)  # fmt: skip


def owner(account: str) -> dict[str, str]:
    return {"ID": hashlib.sha256(account.encode()).hexdigest(), "DisplayName": account}


#: The IAM action of the operations whose action is not `s3:<Operation>`.
_ACTIONS = {
    "HeadObject": "s3:GetObject",
    "HeadBucket": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "CopyObject": "s3:PutObject",
    "DeleteObjects": "s3:DeleteObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "UploadPartCopy": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "ListParts": "s3:ListMultipartUploadParts",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "GetBucketNotificationConfiguration": "s3:GetBucketNotification",
    "PutBucketNotificationConfiguration": "s3:PutBucketNotification",
    "GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "DeleteBucketLifecycle": "s3:PutLifecycleConfiguration",
    "GetBucketCors": "s3:GetBucketCORS",
    "PutBucketCors": "s3:PutBucketCORS",
    "DeleteBucketCors": "s3:PutBucketCORS",
}
#: Operations only the bucket owner's account may perform, whatever the bucket policy says.
_OWNER_ONLY = frozenset({"GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy", "DeleteBucket"})


def s3_action(operation: str) -> str:
    return _ACTIONS.get(operation) or f"s3:{operation}"


def policy_allows(bucket: Bucket, principal: Principal, key: str | None, action: str) -> bool:
    """Whether the bucket policy lets `principal` (of another account, or anonymous) perform
    `action` on the bucket (`key` None) or its object `key` (services/resource_policy.py)."""
    if action.removeprefix("s3:") in _OWNER_ONLY:
        return False
    resource = f"arn:aws:s3:::{bucket.name}/{key}" if key is not None else f"arn:aws:s3:::{bucket.name}"
    return allowed(bucket.account, bucket.policy or None, principal, action, resource)


def access_denied() -> ServiceError:
    return ServiceError("AccessDenied", "Access Denied", 403)


class Buckets:
    def __init__(self, data: S3Data) -> None:
        self.data = data

    def owned(
        self, ctx: RequestContext, name: str, key: str | None = None, action: str | None = None
    ) -> Bucket:
        """The bucket, if the caller's account owns it or its bucket policy lets the caller perform
        this operation (`action`, default `s3_action(ctx.operation)`) on the bucket or on its
        object `key` (NoSuchBucket / AccessDenied). The owner's path is one comparison."""
        bucket = self.data.bucket(name)
        if bucket.account != ctx.account_id and not policy_allows(
            bucket, ctx.principal, key, action or s3_action(ctx.operation)
        ):
            raise access_denied()
        return bucket

    @operation("CreateBucket")
    def create_bucket(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["Bucket"]
        m.check_bucket_name(name)
        if not ctx.account_id:
            raise access_denied()
        constraint = (params.get("CreateBucketConfiguration") or {}).get("LocationConstraint")
        region = _check_location(constraint, ctx.region)
        existing = self.data.store.read
        with existing() as r:
            raw = r.get(m.BUCKETS, m.bucket_key(name))
        if raw is not None:
            found = Bucket.load(raw)
            if found.account != ctx.account_id:
                raise ServiceError(
                    "BucketAlreadyExists",
                    "The requested bucket name is not available. The bucket namespace is shared by all "
                    "users of the system. Please select a different name and try again.",
                    409,
                    fields={"BucketName": name},
                )
            if not (found.region == "us-east-1" and region == "us-east-1"):
                raise ServiceError(
                    "BucketAlreadyOwnedByYou",
                    "Your previous request to create the named bucket succeeded and you already own it.",
                    409,
                    fields={"BucketName": name},
                )
            return {"Location": f"/{name}"}
        self.data.save_bucket(Bucket(name, ctx.account_id, region, time.time()))
        return {"Location": f"/{name}"}

    @operation("HeadBucket")
    def head_bucket(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(ctx, params["Bucket"])
        return {"BucketRegion": bucket.region, "AccessPointAlias": False}

    @operation("ListBuckets")
    def list_buckets(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if not ctx.account_id:  # anonymous: S3 lists buckets to a signed caller only
            raise access_denied()
        prefix = params.get("Prefix") or ""
        region = params.get("BucketRegion")
        after = params.get("ContinuationToken") or ""
        limit = params.get("MaxBuckets") or 10000
        found: list[Bucket] = []
        with self.data.store.read() as r:
            for _, raw in r.scan(m.BUCKETS):
                b = Bucket.load(raw)
                mine = b.account == ctx.account_id and b.name.startswith(prefix) and b.name > after
                if mine and (region is None or b.region == region):
                    found.append(b)
        out: dict[str, Any] = {
            "Buckets": [
                {
                    "Name": b.name,
                    "CreationDate": datetime.fromtimestamp(b.created, UTC),
                    "BucketRegion": b.region,
                }
                for b in found[:limit]
            ],
            "Owner": owner(ctx.account_id),
        }
        if prefix:
            out["Prefix"] = prefix
        if len(found) > limit:
            out["ContinuationToken"] = found[limit - 1].name
        return out

    @operation("DeleteBucket")
    def delete_bucket(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(ctx, params["Bucket"])
        prefix = m.object_prefix(bucket.name)
        with self.data.store.write() as w:
            busy = next(iter(w.scan(m.VERSIONS, prefix=prefix, limit=1)), None) is not None
            if not busy:
                w.delete(m.BUCKETS, m.bucket_key(bucket.name))
        if busy:
            raise ServiceError(
                "BucketNotEmpty",
                "The bucket you tried to delete is not empty",
                409,
                fields={"BucketName": bucket.name},
            )
        return {}

    @operation("GetBucketLocation")
    def get_bucket_location(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(ctx, params["Bucket"])
        return {} if bucket.region == "us-east-1" else {"LocationConstraint": bucket.region}

    @operation("PutBucketVersioning")
    def put_bucket_versioning(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(ctx, params["Bucket"])
        status = (params.get("VersioningConfiguration") or {}).get("Status")
        if status not in ("Enabled", "Suspended"):
            raise ServiceError("MalformedXML", "The XML you provided was not well-formed or did not "
                               "validate against our published schema", 400)  # fmt: skip
        self.data.save_bucket(dataclasses.replace(bucket, versioning=status))
        return {}

    @operation("GetBucketVersioning")
    def get_bucket_versioning(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(ctx, params["Bucket"])
        return {"Status": bucket.versioning} if bucket.versioning else {}

    @operation("PutBucketTagging")
    def put_bucket_tagging(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(ctx, params["Bucket"])
        tags = tag_dict(params["Tagging"].get("TagSet") or [])
        self.data.save_bucket(dataclasses.replace(bucket, tags=tags))
        return {}

    @operation("GetBucketTagging")
    def get_bucket_tagging(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(ctx, params["Bucket"])
        if not bucket.tags:
            raise ServiceError(
                "NoSuchTagSet", "The TagSet does not exist", 404, fields={"BucketName": bucket.name}
            )
        return {"TagSet": tag_list(bucket.tags)}

    @operation("DeleteBucketTagging")
    def delete_bucket_tagging(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(ctx, params["Bucket"])
        self.data.save_bucket(dataclasses.replace(bucket, tags={}))
        return {}

    @operation("PutBucketPolicy")
    def put_bucket_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(ctx, params["Bucket"])
        policy = params.get("Policy") or ""
        try:
            parsed = orjson.loads(policy)
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict) or not policy.lstrip().startswith("{"):
            raise ServiceError(
                "MalformedPolicy", "Policies must be valid JSON and the first byte must be '{'", 400
            )
        self.data.save_bucket(dataclasses.replace(bucket, policy=policy))
        return {}

    @operation("GetBucketPolicy")
    def get_bucket_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(ctx, params["Bucket"])
        if bucket.policy is None:
            raise ServiceError(
                "NoSuchBucketPolicy",
                "The bucket policy does not exist",
                404,
                fields={"BucketName": bucket.name},
            )
        return {"Policy": bucket.policy}

    @operation("DeleteBucketPolicy")
    def delete_bucket_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(ctx, params["Bucket"])
        self.data.save_bucket(dataclasses.replace(bucket, policy=None))
        return {}

    @operation("PutBucketCors")
    def put_bucket_cors(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(ctx, params["Bucket"])
        rules = params["CORSConfiguration"].get("CORSRules") or []
        check_rules(rules)
        self.data.save_bucket(dataclasses.replace(bucket, cors=rules))
        return {}

    @operation("GetBucketCors")
    def get_bucket_cors(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(ctx, params["Bucket"])
        if not bucket.cors:
            raise ServiceError(
                "NoSuchCORSConfiguration",
                "The CORS configuration does not exist",
                404,
                fields={"BucketName": bucket.name},
            )
        return {"CORSRules": bucket.cors}

    @operation("DeleteBucketCors")
    def delete_bucket_cors(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(ctx, params["Bucket"])
        self.data.save_bucket(dataclasses.replace(bucket, cors=None))
        return {}


def _check_location(constraint: str | None, region: str) -> str:
    """The bucket's region; AWS's rules tying LocationConstraint to the endpoint's region."""
    if constraint is not None and constraint not in _REGIONS:
        raise ServiceError(
            "InvalidLocationConstraint",
            "The specified location-constraint is not valid",
            400,
            fields={"LocationConstraint": constraint},
        )
    if region == "us-east-1":
        if constraint == "us-east-1":
            raise ServiceError(
                "InvalidLocationConstraint",
                "The specified location-constraint is not valid",
                400,
                fields={"LocationConstraint": constraint},
            )
        return constraint or "us-east-1"
    if constraint is None:
        raise ServiceError(
            "IllegalLocationConstraintException",
            "The unspecified location constraint is incompatible for the region specific endpoint "
            "this request was sent to.",
            400,
        )
    if constraint != region:
        raise ServiceError(
            "IllegalLocationConstraintException",
            f"The {constraint} location constraint is incompatible for the region specific endpoint "
            "this request was sent to.",
            400,
        )
    return constraint


def tag_dict(tag_set: list[dict[str, str]]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for tag in tag_set:
        if tag["Key"] in tags:
            raise ServiceError("InvalidTag", "Cannot provide multiple Tags with the same key", 400)
        tags[tag["Key"]] = tag.get("Value", "")
    return tags


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]
