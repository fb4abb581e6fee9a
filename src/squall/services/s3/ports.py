"""What S3 offers other services in process: `S3Objects`, the `ports.ObjectReader` (Lambda
reads deployment packages and layer contents given as S3Bucket/S3Key through it).

Errors are the `ServiceError`s S3's GetObject would answer with (`NoSuchBucket`,
`NoSuchKey`, `NoSuchVersion`, `AccessDenied` for another account's bucket,
`PermanentRedirect` for a bucket in another region, `InvalidObjectState` for an
archived object, `EntityTooLarge` past `limit`). The caller maps them to its
own API's errors. Reads the whole object: for small objects (deployment packages).
"""

from __future__ import annotations

from squall.protocol.errors import ServiceError
from squall.services.context import Principal
from squall.services.s3 import models as m
from squall.services.s3.buckets import policy_allows
from squall.services.s3.data import S3Data

_ARCHIVED = frozenset({"GLACIER", "DEEP_ARCHIVE"})


class S3Objects:
    def __init__(self, data: S3Data) -> None:
        self.data = data

    def read(
        self,
        principal: Principal,
        region: str,
        bucket: str,
        key: str,
        version_id: str | None = None,
        limit: int | None = None,
    ) -> bytes:
        """The object's bytes, read by `principal` from `region`."""
        found = self.data.bucket(bucket)
        if found.account != principal.account_id and not policy_allows(found, principal, key, "s3:GetObject"):
            raise ServiceError("AccessDenied", "Access Denied", 403)
        if found.region != region:
            raise ServiceError(
                "PermanentRedirect",
                f"The bucket is in this region: {found.region}. Please use this region to retry the request",
                301,
            )
        version = self.data.find(bucket, key, version_id)
        if version.delete_marker:
            raise m.no_such_key(key) if version_id is None else m.method_not_allowed("GET", "DeleteMarker")
        if version.storage_class in _ARCHIVED:
            raise ServiceError(
                "InvalidObjectState", "The operation is not valid for the object's storage class", 403
            )
        if limit is not None and version.size > limit:
            raise ServiceError(
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size",
                400,
                fields={"ProposedSize": version.size, "MaxSizeAllowed": limit},
            )
        return b"".join(self.data.read_body(body_id) for body_id, _ in version.parts)
