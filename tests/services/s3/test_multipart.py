"""Multipart uploads, the transfer manager, and presigned URLs from a plain HTTP client."""

from __future__ import annotations

import hashlib
import os
import time
import urllib.error
import urllib.request

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.services.s3.helpers import error, new_bucket

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def s3(server):  # type: ignore[no-untyped-def]
    return server.client("s3")


def test_multipart_lifecycle(s3) -> None:  # type: ignore[no-untyped-def]
    name = new_bucket(s3)
    upload = s3.create_multipart_upload(
        Bucket=name, Key="big", ContentType="application/x-test", Metadata={"m": "1"}
    )
    uid = upload["UploadId"]
    p1, p2 = os.urandom(5 * MiB), b"tail"
    e1 = s3.upload_part(Bucket=name, Key="big", UploadId=uid, PartNumber=1, Body=p1)["ETag"]
    e2 = s3.upload_part(Bucket=name, Key="big", UploadId=uid, PartNumber=2, Body=p2)["ETag"]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=name)["Uploads"]] == [uid]
    parts = s3.list_parts(Bucket=name, Key="big", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, 5 * MiB), (2, 4)]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=name, Key="big", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]})  # fmt: skip
    assert error(exc)["Code"] == "InvalidPartOrder"
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=name, Key="big", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": '"0123"'}]})  # fmt: skip
    assert error(exc)["Code"] == "InvalidPart"
    done = s3.complete_multipart_upload(Bucket=name, Key="big", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})  # fmt: skip
    md5s = hashlib.md5(p1).digest() + hashlib.md5(p2).digest()
    assert done["ETag"] == f'"{hashlib.md5(md5s).hexdigest()}-2"'
    got = s3.get_object(Bucket=name, Key="big")
    assert got["Body"].read() == p1 + p2 and got["ContentType"] == "application/x-test"
    part2 = s3.get_object(Bucket=name, Key="big", PartNumber=2)
    assert part2["Body"].read() == p2 and part2["PartsCount"] == 2
    ranged = s3.get_object(Bucket=name, Key="big", Range=f"bytes={5 * MiB - 2}-{5 * MiB + 1}")
    assert ranged["Body"].read() == p1[-2:] + p2[:2]
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=name, Key="big", UploadId=uid)
    assert error(exc)["Code"] == "NoSuchUpload"


def test_entity_too_small_and_abort(s3) -> None:  # type: ignore[no-untyped-def]
    name = new_bucket(s3)
    uid = s3.create_multipart_upload(Bucket=name, Key="k")["UploadId"]
    e1 = s3.upload_part(Bucket=name, Key="k", UploadId=uid, PartNumber=1, Body=b"small")["ETag"]
    e2 = s3.upload_part(Bucket=name, Key="k", UploadId=uid, PartNumber=2, Body=b"small")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=name, Key="k", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})  # fmt: skip
    # https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList (EntityTooSmall,
    # 400) with the message AWS answers (quoted in issue 14) and the fields of AWS's EntityTooSmall
    # error shape (ProposedSize, MinSizeAllowed, PartNumber, ETag: LocalStack's API generated from
    # AWS's S3 specification) for the first part under 5 MiB.
    err = error(exc)
    assert err["Code"] == "EntityTooSmall" and exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Message"] == "Your proposed upload is smaller than the minimum allowed size"
    assert err["ProposedSize"] == "5" and err["MinSizeAllowed"] == str(5 * 1024 * 1024)
    assert err["PartNumber"] == "1" and err["ETag"] == e1.strip('"')
    s3.abort_multipart_upload(Bucket=name, Key="k", UploadId=uid)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=name, Key="k", UploadId=uid, PartNumber=3, Body=b"x")
    assert error(exc)["Code"] == "NoSuchUpload"


def test_upload_part_copy(s3) -> None:  # type: ignore[no-untyped-def]
    name = new_bucket(s3)
    source = os.urandom(6 * MiB)
    s3.put_object(Bucket=name, Key="src", Body=source)
    uid = s3.create_multipart_upload(Bucket=name, Key="dst")["UploadId"]
    r1 = s3.upload_part_copy(
        Bucket=name,
        Key="dst",
        UploadId=uid,
        PartNumber=1,
        CopySource={"Bucket": name, "Key": "src"},
        CopySourceRange=f"bytes=0-{5 * MiB - 1}",
    )
    r2 = s3.upload_part_copy(Bucket=name, Key="dst", UploadId=uid, PartNumber=2,
                             CopySource=f"{name}/src", CopySourceRange=f"bytes={5 * MiB}-{6 * MiB - 1}")  # fmt: skip
    s3.complete_multipart_upload(Bucket=name, Key="dst", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]}]})  # fmt: skip
    assert s3.get_object(Bucket=name, Key="dst")["Body"].read() == source


def test_transfer_manager_100mb(s3, tmp_path) -> None:  # type: ignore[no-untyped-def]
    name = new_bucket(s3)
    src = tmp_path / "big.bin"
    block = os.urandom(MiB)
    with open(src, "wb") as f:
        for i in range(100):
            f.write(block[i:] + block[:i])
    config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=8)
    s3.upload_file(str(src), name, "big.bin", Config=config)
    head = s3.head_object(Bucket=name, Key="big.bin")
    assert head["ContentLength"] == 100 * MiB and head["ETag"].endswith('-13"')
    dst = tmp_path / "back.bin"
    s3.download_file(name, "big.bin", str(dst), Config=config)
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(src.read_bytes()).digest()


def test_presigned_get_put_and_expiry(server) -> None:  # type: ignore[no-untyped-def]
    s3 = server.client("s3", signature_version="s3v4")
    name = new_bucket(s3)
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": name, "Key": "p"}, ExpiresIn=60)
    req = urllib.request.Request(put_url, data=b"via presigned PUT", method="PUT")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "p"}, ExpiresIn=60)
    with urllib.request.urlopen(get_url, timeout=10) as resp:
        assert resp.read() == b"via presigned PUT"
    expired = s3.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "p"}, ExpiresIn=1)
    time.sleep(2.1)
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(expired, timeout=10)
    body = exc.value.read().decode()
    assert exc.value.code == 403 and "<Code>AccessDenied</Code>" in body and "Request has expired" in body


def test_presigned_sigv2_default_boto3(s3) -> None:  # type: ignore[no-untyped-def]
    """boto3's default S3 presigning (SigV2 query: AWSAccessKeyId/Signature/Expires)."""
    name = new_bucket(s3)
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": name, "Key": "v2 key"}, ExpiresIn=60)
    assert "AWSAccessKeyId=" in put_url
    # SigV2 signs Content-Type: send none (urllib would add a form type), as on AWS.
    req = urllib.request.Request(put_url, data=b"v2 body", method="PUT", headers={"Content-Type": ""})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    get_url = s3.generate_presigned_url(
        "get_object",
        Params={"Bucket": name, "Key": "v2 key", "ResponseContentType": "text/x-v2"},
        ExpiresIn=60,
    )
    with urllib.request.urlopen(get_url, timeout=10) as resp:
        assert resp.read() == b"v2 body" and resp.headers["Content-Type"] == "text/x-v2"
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(get_url.replace("Signature=", "Signature=x"), timeout=10)
    assert exc.value.code == 403 and b"SignatureDoesNotMatch" in exc.value.read()
