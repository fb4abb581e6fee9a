"""S3 operations whose API reference gives "HTTP/1.1 204" answer it through the real server (the
codes are botocore's `http.responseCode`). The audit: docs/audits/response-codes.md."""

from __future__ import annotations

from typing import Any

from tests.conftest import RunningServer
from tests.services.s3.helpers import new_bucket


def status(out: dict[str, Any]) -> int:
    return int(out["ResponseMetadata"]["HTTPStatusCode"])


def test_s3_operations_answer_their_modelled_status(server: RunningServer) -> None:
    # S3 API reference: DeleteBucket, DeleteObject, DeleteObjectTagging, DeleteBucketCors / Lifecycle /
    # Policy / Tagging and AbortMultipartUpload answer "HTTP/1.1 204"
    s3 = server.client("s3")
    bucket = new_bucket(s3)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="a=1")
    assert status(s3.delete_object_tagging(Bucket=bucket, Key="k")) == 204
    assert status(s3.delete_object(Bucket=bucket, Key="k")) == 204
    upload = s3.create_multipart_upload(Bucket=bucket, Key="m")["UploadId"]
    assert status(s3.abort_multipart_upload(Bucket=bucket, Key="m", UploadId=upload)) == 204
    assert status(s3.delete_bucket_cors(Bucket=bucket)) == 204
    assert status(s3.delete_bucket_lifecycle(Bucket=bucket)) == 204
    assert status(s3.delete_bucket_policy(Bucket=bucket)) == 204
    assert status(s3.delete_bucket_tagging(Bucket=bucket)) == 204
    assert status(s3.delete_bucket(Bucket=bucket)) == 204
