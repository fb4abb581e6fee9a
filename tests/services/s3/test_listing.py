"""Listings (v2, v1, versions) and versioning semantics."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.services.s3.helpers import error, new_bucket

KEYS = ["a/1", "a/2", "a/b/3", "b/1", "c", "d e+f", "z/é"]


@pytest.fixture(scope="module")
def s3(server):  # type: ignore[no-untyped-def]
    return server.client("s3")


@pytest.fixture(scope="module")
def bucket(s3) -> str:  # type: ignore[no-untyped-def]
    name = new_bucket(s3)
    for key in KEYS:
        s3.put_object(Bucket=name, Key=key, Body=key.encode())
    return name


def test_v2_prefix_delimiter(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    out = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in out["Contents"]] == KEYS and out["KeyCount"] == len(KEYS)
    out = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [o["Key"] for o in out["Contents"]] == ["c", "d e+f"]
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["a/", "b/", "z/"]
    out = s3.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in out["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["a/b/"]
    out = s3.list_objects_v2(Bucket=bucket, StartAfter="b/1")
    assert [o["Key"] for o in out["Contents"]] == ["c", "d e+f", "z/é"]


def test_v2_pagination(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        kw = {"ContinuationToken": token} if token else {}
        out = s3.list_objects_v2(Bucket=bucket, MaxKeys=2, Delimiter="/", **kw)
        seen += [o["Key"] for o in out.get("Contents", [])] + [
            p["Prefix"] for p in out.get("CommonPrefixes", [])
        ]
        pages += 1
        if not out["IsTruncated"]:
            break
        token = out["NextContinuationToken"]
    assert sorted(seen) == sorted(["a/", "b/", "c", "d e+f", "z/"]) and pages == 3
    paginator = s3.get_paginator("list_objects_v2")
    keys = [
        o["Key"]
        for page in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 3})
        for o in page["Contents"]
    ]
    assert keys == KEYS


def test_v2_encoding_and_owner(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    out = s3.list_objects_v2(Bucket=bucket, Prefix="d", EncodingType="url", FetchOwner=True)
    assert out["Contents"][0]["Key"] == "d+e%2Bf"  # asked for explicitly: botocore leaves it encoded
    assert "Owner" in out["Contents"][0]


def test_v1_marker(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    out = s3.list_objects(Bucket=bucket, MaxKeys=2, Delimiter="/")
    assert out["IsTruncated"] and out["NextMarker"] == "b/"
    out = s3.list_objects(Bucket=bucket, Marker=out["NextMarker"], Delimiter="/")
    assert [o["Key"] for o in out["Contents"]] == ["c", "d e+f"]
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["z/"]


def test_versioning(s3) -> None:  # type: ignore[no-untyped-def]
    name = new_bucket(s3)
    s3.put_object(Bucket=name, Key="k", Body=b"before")  # the null version
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=name, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=name, Key="k", Body=b"two")["VersionId"]
    assert v1 != v2 and "null" not in (v1, v2)
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"two"
    assert s3.get_object(Bucket=name, Key="k", VersionId=v1)["Body"].read() == b"one"
    assert s3.get_object(Bucket=name, Key="k", VersionId="null")["Body"].read() == b"before"
    marker = s3.delete_object(Bucket=name, Key="k")
    assert marker["DeleteMarker"] is True
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="k")
    assert error(exc)["Code"] == "NoSuchKey"
    assert "Contents" not in s3.list_objects_v2(Bucket=name)
    versions = s3.list_object_versions(Bucket=name)
    assert [v["VersionId"] for v in versions["Versions"]] == [v2, v1, "null"]
    assert [v["IsLatest"] for v in versions["Versions"]] == [False, False, False]
    assert versions["DeleteMarkers"][0]["VersionId"] == marker["VersionId"]
    assert versions["DeleteMarkers"][0]["IsLatest"] is True
    page = s3.list_object_versions(Bucket=name, MaxKeys=2)
    assert page["IsTruncated"]
    rest = s3.list_object_versions(
        Bucket=name, KeyMarker=page["NextKeyMarker"], VersionIdMarker=page["NextVersionIdMarker"]
    )
    assert [v["VersionId"] for v in rest["Versions"]] == [v1, "null"]
    s3.delete_object(Bucket=name, Key="k", VersionId=marker["VersionId"])  # undelete
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"two"
    s3.delete_object(Bucket=name, Key="k", VersionId=v2)
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"one"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=name, Key="k", VersionId=v2)
    assert error(exc)["Code"] == "NoSuchVersion"


def test_suspended_versioning_replaces_null(s3) -> None:  # type: ignore[no-untyped-def]
    name = new_bucket(s3)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    kept = s3.put_object(Bucket=name, Key="k", Body=b"kept")["VersionId"]
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=name, Key="k", Body=b"n1")
    s3.put_object(Bucket=name, Key="k", Body=b"n2")
    ids = [v["VersionId"] for v in s3.list_object_versions(Bucket=name)["Versions"]]
    assert ids == ["null", kept]
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"n2"
