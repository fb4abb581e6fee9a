"""Bucket operations through boto3 against a real server."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.services.s3.helpers import error, new_bucket, status


@pytest.fixture(scope="module")
def s3(server):  # type: ignore[no-untyped-def]
    return server.client("s3")


def test_create_list_head_delete(s3) -> None:  # type: ignore[no-untyped-def]
    name = new_bucket(s3)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    head = s3.head_bucket(Bucket=name)
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] is None
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=name)
    assert status(exc) == 404
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=name)
    assert error(exc)["Code"] == "NoSuchBucket" and error(exc)["BucketName"] == name


@pytest.mark.parametrize(
    "name", ["ab", "Upper-case", "a..b", "192.168.1.1", "xn--abc", "-start", "a_b", "x" * 64]
)
def test_invalid_names(s3, name: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name)
    assert error(exc)["Code"] == "InvalidBucketName"


def test_already_owned_and_exists(server, s3) -> None:  # type: ignore[no-untyped-def]
    name = new_bucket(s3)
    s3.create_bucket(Bucket=name)  # us-east-1: re-creating your own bucket succeeds
    eu = server.client("s3", region="eu-west-1")
    eu_name = new_bucket(eu, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert eu.get_bucket_location(Bucket=eu_name)["LocationConstraint"] == "eu-west-1"
    with pytest.raises(ClientError) as exc:
        eu.create_bucket(Bucket=eu_name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert error(exc)["Code"] == "BucketAlreadyOwnedByYou" and status(exc) == 409
    other = server.client("s3", access_key="other", secret="other")
    with pytest.raises(ClientError) as exc:
        other.create_bucket(Bucket=name)
    assert error(exc)["Code"] in ("BucketAlreadyExists", "InvalidAccessKeyId")


def test_location_constraint_rules(server, s3) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket="bkt-lc-1", CreateBucketConfiguration={"LocationConstraint": "us-east-1"})
    # The model's enum has no us-east-1, so model validation refuses it before the provider
    # (AWS answers InvalidLocationConstraint).
    assert error(exc)["Code"] in ("InvalidLocationConstraint", "InvalidArgument")
    west = server.client("s3", region="us-west-2")
    with pytest.raises(ClientError) as exc:
        west.create_bucket(Bucket="bkt-lc-2")
    assert error(exc)["Code"] == "IllegalLocationConstraintException"
    with pytest.raises(ClientError) as exc:
        west.create_bucket(Bucket="bkt-lc-3", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert error(exc)["Code"] == "IllegalLocationConstraintException"


def test_not_empty(s3) -> None:  # type: ignore[no-untyped-def]
    name = new_bucket(s3)
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=name)
    assert error(exc)["Code"] == "BucketNotEmpty" and status(exc) == 409
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)


def test_versioning_tagging_policy_cors(s3) -> None:  # type: ignore[no-untyped-def]
    name = new_bucket(s3)
    assert "Status" not in s3.get_bucket_versioning(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"

    with pytest.raises(ClientError) as exc:
        s3.get_bucket_tagging(Bucket=name)
    assert error(exc)["Code"] == "NoSuchTagSet"
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "team", "Value": "data"}]})
    assert s3.get_bucket_tagging(Bucket=name)["TagSet"] == [{"Key": "team", "Value": "data"}]
    s3.delete_bucket_tagging(Bucket=name)

    with pytest.raises(ClientError) as exc:
        s3.get_bucket_policy(Bucket=name)
    assert error(exc)["Code"] == "NoSuchBucketPolicy" and status(exc) == 404
    policy = json.dumps({"Version": "2012-10-17", "Statement": []})
    s3.put_bucket_policy(Bucket=name, Policy=policy)
    assert json.loads(s3.get_bucket_policy(Bucket=name)["Policy"]) == json.loads(policy)
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_policy(Bucket=name, Policy="not json")
    assert error(exc)["Code"] == "MalformedPolicy"
    s3.delete_bucket_policy(Bucket=name)

    with pytest.raises(ClientError) as exc:
        s3.get_bucket_cors(Bucket=name)
    assert error(exc)["Code"] == "NoSuchCORSConfiguration"
    rules = [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"], "MaxAgeSeconds": 60}]
    s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
    assert s3.get_bucket_cors(Bucket=name)["CORSRules"] == rules
    s3.delete_bucket_cors(Bucket=name)
