"""Deployment packages read from S3 (`S3Bucket`/`S3Key`/`S3ObjectVersion`), with S3's errors
reported the way Lambda reports them:
"Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist."
"""

from __future__ import annotations

from typing import Any

from squall.protocol.errors import ServiceError
from squall.services.context import Principal
from squall.services.lambda_.code import UNZIPPED_LIMIT
from squall.services.lambda_.validation import invalid
from squall.services.ports import ObjectReader


def from_s3(objects: ObjectReader | None, principal: Principal, region: str, source: dict[str, Any]) -> bytes:
    """The package `source` (Code or Content with S3Bucket/S3Key) names, read as `principal`
    (the caller of the Lambda operation, as on AWS)."""
    bucket, key = source.get("S3Bucket"), source.get("S3Key")
    if not bucket or not key:
        raise invalid("Please provide both S3Bucket and S3Key.")
    if objects is None:
        raise invalid("S3 is not available in this server, so S3Bucket/S3Key cannot be used.")
    try:
        return objects.read(principal, region, bucket, key, source.get("S3ObjectVersion"), UNZIPPED_LIMIT)
    except ServiceError as err:
        raise invalid(
            f"Error occurred while GetObject. S3 Error Code: {err.code}. S3 Error Message: {err.message}"
        ) from None
