"""Object operations through boto3 against a real server."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from tests.services.s3.helpers import error, new_bucket, status


@pytest.fixture(scope="module")
def s3(server):  # type: ignore[no-untyped-def]
    return server.client("s3")


@pytest.fixture(scope="module")
def bucket(s3) -> str:  # type: ignore[no-untyped-def]
    return new_bucket(s3)


def test_put_get_head_with_metadata(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    body = b"hello world" * 100
    put = s3.put_object(
        Bucket=bucket, Key="docs/a.txt", Body=body, ContentType="text/plain", Metadata={"Owner": "me"},
        ContentEncoding="identity", ContentDisposition="inline", CacheControl="no-cache",
        Expires=datetime(2030, 1, 1, tzinfo=UTC), StorageClass="STANDARD_IA", Tagging="a=1&b=2",
    )  # fmt: skip
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="docs/a.txt")
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/plain" and got["Metadata"] == {"owner": "me"}
    assert got["ContentDisposition"] == "inline" and got["CacheControl"] == "no-cache"
    assert got["StorageClass"] == "STANDARD_IA" and got["TagCount"] == 2
    head = s3.head_object(Bucket=bucket, Key="docs/a.txt")
    assert head["ContentLength"] == len(body) and head["ETag"] == put["ETag"]
    tags = s3.get_object_tagging(Bucket=bucket, Key="docs/a.txt")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("a", "1"), ("b", "2")]
    s3.put_object_tagging(Bucket=bucket, Key="docs/a.txt", Tagging={"TagSet": [{"Key": "c", "Value": "3"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="docs/a.txt")["TagSet"] == [{"Key": "c", "Value": "3"}]
    s3.delete_object_tagging(Bucket=bucket, Key="docs/a.txt")
    assert s3.get_object_tagging(Bucket=bucket, Key="docs/a.txt")["TagSet"] == []


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_checksums_stored_and_returned(s3, bucket: str, algorithm: str) -> None:  # type: ignore[no-untyped-def]
    put = s3.put_object(
        Bucket=bucket, Key=f"sum-{algorithm}", Body=b"checksum me", ChecksumAlgorithm=algorithm
    )
    value = put[f"Checksum{algorithm}"]
    head = s3.head_object(Bucket=bucket, Key=f"sum-{algorithm}", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == value
    got = s3.get_object(Bucket=bucket, Key=f"sum-{algorithm}", ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == value and got["Body"].read() == b"checksum me"
    assert "ChecksumCRC32" not in s3.head_object(Bucket=bucket, Key=f"sum-{algorithm}")


def test_wrong_checksums(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"data", ContentMD5=wrong_md5)
    assert error(exc)["Code"] == "BadDigest"
    wrong_sha = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"data", ChecksumSHA256=wrong_sha)
    assert error(exc)["Code"] == "BadDigest"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="bad")
    assert status(exc) == 404


def test_ranges(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="digits", Body=b"0123456789")
    cases = {"bytes=2-4": (b"234", "bytes 2-4/10"), "bytes=7-": (b"789", "bytes 7-9/10"),
             "bytes=-3": (b"789", "bytes 7-9/10"), "bytes=8-100": (b"89", "bytes 8-9/10")}  # fmt: skip
    for header, (data, content_range) in cases.items():
        got = s3.get_object(Bucket=bucket, Key="digits", Range=header)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["Body"].read() == data and got["ContentRange"] == content_range
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="digits", Range="bytes=10-")
    assert error(exc)["Code"] == "InvalidRange" and status(exc) == 416


def test_conditionals_and_overrides(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    etag = s3.put_object(Bucket=bucket, Key="cond", Body=b"x")["ETag"]
    assert s3.get_object(Bucket=bucket, Key="cond", IfMatch=etag)["Body"].read() == b"x"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="cond", IfMatch='"0000"')
    assert status(exc) == 412 and error(exc)["Code"] == "PreconditionFailed"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="cond", IfNoneMatch=etag)
    assert status(exc) == 304
    future = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="cond", IfModifiedSince=future)
    assert status(exc) == 304
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="cond", IfUnmodifiedSince=datetime(2000, 1, 1, tzinfo=UTC))
    assert status(exc) == 412
    got = s3.get_object(
        Bucket=bucket, Key="cond", ResponseContentType="image/png", ResponseCacheControl="max-age=5"
    )
    assert got["ContentType"] == "image/png" and got["CacheControl"] == "max-age=5"


def test_delete_and_delete_objects(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    for key in ("d1", "d2", "d3"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    s3.delete_object(Bucket=bucket, Key="d1")
    s3.delete_object(Bucket=bucket, Key="never-existed")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="d1")
    assert error(exc)["Code"] == "NoSuchKey" and error(exc)["Key"] == "d1"
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "d2"}, {"Key": "x" * 1100}]})
    assert [d["Key"] for d in out["Deleted"]] == ["d2"]
    assert out["Errors"][0]["Code"] == "KeyTooLongError"
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "d3"}], "Quiet": True})
    assert "Deleted" not in quiet and "Errors" not in quiet


def test_copy_object(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="src", Body=b"copy me", Metadata={"k": "v"}, ContentType="text/x")
    out = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert out["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"copy me").hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert (
        got["Body"].read() == b"copy me" and got["Metadata"] == {"k": "v"} and got["ContentType"] == "text/x"
    )
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src", MetadataDirective="REPLACE",
                   Metadata={"new": "1"}, ContentType="text/y")  # fmt: skip
    assert s3.head_object(Bucket=bucket, Key="dst")["Metadata"] == {"new": "1"}
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="src", CopySource=f"{bucket}/src")
    assert error(exc)["Code"] == "InvalidRequest"
    s3.copy_object(Bucket=bucket, Key="src", CopySource=f"{bucket}/src", MetadataDirective="REPLACE")
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="dst2", CopySource=f"{bucket}/src", CopySourceIfMatch='"nope"')
    assert status(exc) == 412


def test_key_safety(server, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    for key in ("../../etc/passwd", "/abs/path", "a/./b/../c", "ü nicode ✓"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    assert not (server.data_dir / "etc").exists() and not (server.data_dir.parent / "etc").exists()
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert error(exc)["Code"] == "KeyTooLongError"


def test_errors_carry_request_id(s3) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="bkt-does-not-exist", Key="k")
    assert error(exc)["Code"] == "NoSuchBucket" and error(exc)["BucketName"] == "bkt-does-not-exist"
    meta = exc.value.response["ResponseMetadata"]
    assert meta["RequestId"] and meta["HostId"]


def test_aws_cli_cp_ls_rm(server, s3, tmp_path) -> None:  # type: ignore[no-untyped-def]
    name = new_bucket(s3)
    local = tmp_path / "f.bin"
    local.write_bytes(b"cli body" * 1000)
    server.aws("s3", "cp", "--only-show-errors", str(local), f"s3://{name}/dir/f.bin")
    listing = server.aws("s3api", "list-objects-v2", "--bucket", name)
    assert [o["Key"] for o in listing["Contents"]] == ["dir/f.bin"]
    back = tmp_path / "back.bin"
    server.aws("s3", "cp", "--only-show-errors", f"s3://{name}/dir/f.bin", str(back))
    assert back.read_bytes() == local.read_bytes()
    server.aws("s3", "rm", "--only-show-errors", f"s3://{name}/dir/f.bin")
    assert "Contents" not in s3.list_objects_v2(Bucket=name)


def test_entity_too_large_refused_before_reading(server, bucket: str) -> None:  # type: ignore[no-untyped-def]
    import http.client

    s3 = server.client("s3", signature_version="s3v4")
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "huge"}, ExpiresIn=60)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest("PUT", url.split(str(server.port), 1)[1])
    conn.putheader("Content-Length", str(6 * 1024**3))
    conn.endheaders()
    conn.send(b"x" * 1024)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 400 and b"<Code>EntityTooLarge</Code>" in body
