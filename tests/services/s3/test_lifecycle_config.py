"""Storage classes on write, Put/Get/DeleteBucketLifecycleConfiguration and AWS's validation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.services.s3.helpers import error, new_bucket, status


@pytest.fixture(scope="module")
def s3(server):  # type: ignore[no-untyped-def]
    return server.client("s3")


def _rule(**kw: Any) -> dict[str, Any]:
    return {"ID": "r1", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, **kw}


def test_storage_classes_on_write_and_read(s3: Any) -> None:
    bucket = new_bucket(s3)
    s3.put_object(Bucket=bucket, Key="std", Body=b"x")
    s3.put_object(Bucket=bucket, Key="ia", Body=b"x", StorageClass="STANDARD_IA")
    s3.copy_object(Bucket=bucket, Key="ir", CopySource=f"{bucket}/std", StorageClass="GLACIER_IR")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", StorageClass="ONEZONE_IA")
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload["UploadId"])
    head = s3.head_object(Bucket=bucket, Key="std")
    assert "StorageClass" not in head  # x-amz-storage-class is omitted for STANDARD
    assert "x-amz-storage-class" not in head["ResponseMetadata"]["HTTPHeaders"]
    assert s3.head_object(Bucket=bucket, Key="ia")["StorageClass"] == "STANDARD_IA"
    assert s3.get_object(Bucket=bucket, Key="ir")["StorageClass"] == "GLACIER_IR"
    listed = {o["Key"]: o["StorageClass"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert listed == {"std": "STANDARD", "ia": "STANDARD_IA", "ir": "GLACIER_IR"}
    for call in (
        lambda: s3.put_object(Bucket=bucket, Key="bad", Body=b"x", StorageClass="COLD"),
        lambda: s3.copy_object(Bucket=bucket, Key="bad", CopySource=f"{bucket}/std", StorageClass="COLD"),
        lambda: s3.create_multipart_upload(Bucket=bucket, Key="bad", StorageClass="COLD"),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc)["Code"] == "InvalidStorageClass"
        assert error(exc)["Message"] == "The storage class you specified is not valid"


def test_put_get_delete_configuration(s3: Any) -> None:
    bucket = new_bucket(s3)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert error(exc)["Code"] == "NoSuchLifecycleConfiguration" and status(exc) == 404
    rules = [
        _rule(
            Transitions=[{"Days": 30, "StorageClass": "STANDARD_IA"}, {"Days": 90, "StorageClass": "GLACIER"}],
            Expiration={"Days": 365},
            NoncurrentVersionExpiration={"NoncurrentDays": 7, "NewerNoncurrentVersions": 2},
            AbortIncompleteMultipartUpload={"DaysAfterInitiation": 3},
        ),
        {"ID": "tagged", "Status": "Disabled", "Expiration": {"Date": datetime(2030, 1, 1, tzinfo=UTC)},
         "Filter": {"And": {"Prefix": "a/", "Tags": [{"Key": "k", "Value": "v"}], "ObjectSizeGreaterThan": 10}}},
    ]  # fmt: skip
    out = s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    assert out["TransitionDefaultMinimumObjectSize"] == "all_storage_classes_128K"
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert got["Rules"][0] == rules[0]
    assert got["Rules"][1]["Expiration"]["Date"] == datetime(2030, 1, 1, tzinfo=UTC)
    assert got["Rules"][1]["Filter"] == rules[1]["Filter"]
    s3.delete_bucket_lifecycle(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert error(exc)["Code"] == "NoSuchLifecycleConfiguration"


def test_rule_without_id_gets_one(s3: Any) -> None:
    bucket = new_bucket(s3)
    rule = {"Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}}
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]["ID"]


_IA_30 = "'Days' in Transition action must be greater than or equal to 30 for storageClass 'STANDARD_IA'"
_CASES = [
    (_rule(Transitions=[{"Days": 10, "StorageClass": "STANDARD_IA"}]), "InvalidArgument", _IA_30),
    (_rule(Transitions=[{"Days": -1, "StorageClass": "GLACIER"}]), "InvalidArgument",
     "'Days' for Transition action must be a positive integer"),
    (_rule(Expiration={"Days": 0}), "InvalidArgument", "'Days' for Expiration action must be a positive integer"),
    (_rule(Expiration={"Date": datetime(2030, 1, 1, 12, tzinfo=UTC)}), "InvalidArgument",
     "'Date' must be at midnight GMT"),
    (_rule(Transitions=[{"Days": 40, "StorageClass": "GLACIER"}], Expiration={"Days": 40}), "InvalidArgument",
     "'Days' in the Expiration action for filter '(prefix=logs/)' must be greater than 'Days' in the "
     "Transition action"),
    (_rule(Transitions=[{"Days": 60, "StorageClass": "STANDARD_IA"}, {"Days": 30, "StorageClass": "GLACIER"}]),
     "InvalidArgument", None),
    (_rule(Transitions=[{"Days": 30, "StorageClass": "GLACIER"}, {"Days": 60, "StorageClass": "GLACIER"}]),
     "InvalidRequest", None),
    (_rule(NoncurrentVersionExpiration={"NoncurrentDays": 0}), "InvalidArgument",
     "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer"),
    (_rule(NoncurrentVersionTransitions=[{"NoncurrentDays": 5, "StorageClass": "ONEZONE_IA"}]), "InvalidArgument",
     "'NoncurrentDays' in NoncurrentVersionTransition action must be greater than or equal to 30 for "
     "storageClass 'ONEZONE_IA'"),
    (_rule(AbortIncompleteMultipartUpload={"DaysAfterInitiation": 0}), "InvalidArgument",
     "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer"),
    (_rule(), "InvalidRequest", "At least one action needs to be specified in a rule"),
    ({"ID": "x", "Status": "Enabled", "Expiration": {"Days": 1}}, "MalformedXML", None),
    (_rule(Status="On", Expiration={"Days": 1}), "MalformedXML", None),
    (_rule(Transitions=[{"Days": 30, "StorageClass": "STANDARD"}]), "MalformedXML", None),
    (_rule(ID="x" * 256, Expiration={"Days": 1}), "InvalidArgument",
     "ID length should not exceed allowed limit of 255"),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "code", "message"), _CASES)
def test_validation(s3: Any, rule: dict[str, Any], code: str, message: str | None) -> None:
    bucket = new_bucket(s3)
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    assert error(exc)["Code"] == code and status(exc) == 400
    if message is not None:
        assert error(exc)["Message"] == message
    with pytest.raises(ClientError):
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)


def test_duplicate_rule_ids(s3: Any) -> None:
    bucket = new_bucket(s3)
    rules = [_rule(Expiration={"Days": 1}), {**_rule(Expiration={"Days": 2}), "Filter": {"Prefix": "b/"}}]
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    assert error(exc)["Message"] == "Rule ID must be unique. Found same ID for more than one rule"


def test_expiration_header(s3: Any) -> None:
    bucket = new_bucket(s3)
    rule = _rule(ID="expire-logs", Expiration={"Days": 400})
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    put = s3.put_object(Bucket=bucket, Key="logs/a", Body=b"x")
    assert put["Expiration"].startswith('expiry-date="') and put["Expiration"].endswith(
        'rule-id="expire-logs"'
    )
    assert "00:00:00 GMT" in put["Expiration"]  # rounded up to midnight UTC with real days
    assert s3.head_object(Bucket=bucket, Key="logs/a")["Expiration"] == put["Expiration"]
    assert s3.get_object(Bucket=bucket, Key="logs/a")["Expiration"] == put["Expiration"]
    assert "Expiration" not in s3.put_object(Bucket=bucket, Key="other", Body=b"x")


def test_archived_object_is_not_readable(s3: Any) -> None:
    bucket = new_bucket(s3)
    s3.put_object(Bucket=bucket, Key="cold", Body=b"x", StorageClass="GLACIER")
    s3.put_object(Bucket=bucket, Key="warm", Body=b"x")
    head = s3.head_object(Bucket=bucket, Key="cold")
    assert head["StorageClass"] == "GLACIER" and "Restore" not in head
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="cold")
    assert status(exc) == 403 and error(exc)["Code"] == "InvalidObjectState"
    assert error(exc)["Message"] == "The operation is not valid for the object's storage class"
    assert error(exc)["StorageClass"] == "GLACIER"
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/cold")
    assert status(exc) == 403 and error(exc)["Code"] == "ObjectNotInActiveTierError"
    with pytest.raises(ClientError) as exc:
        s3.restore_object(Bucket=bucket, Key="warm", RestoreRequest={"Days": 1})
    assert status(exc) == 403 and error(exc)["Code"] == "InvalidObjectState"
    s3.put_object(Bucket=bucket, Key="deep", Body=b"x", StorageClass="DEEP_ARCHIVE")
    with pytest.raises(ClientError) as exc:
        s3.restore_object(
            Bucket=bucket,
            Key="deep",
            RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Expedited"}},
        )
    assert status(exc) == 400
    # a real day: the restore is still going on (5 hours for Standard)
    out = s3.restore_object(Bucket=bucket, Key="cold", RestoreRequest={"Days": 2})
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert s3.head_object(Bucket=bucket, Key="cold")["Restore"] == 'ongoing-request="true"'
    with pytest.raises(ClientError) as exc:
        s3.restore_object(Bucket=bucket, Key="cold", RestoreRequest={"Days": 2})
    assert status(exc) == 409 and error(exc)["Code"] == "RestoreAlreadyInProgress"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="cold")
    assert error(exc)["Code"] == "InvalidObjectState"
