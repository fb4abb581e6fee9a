"""The lifecycle worker and Glacier restore end to end, against servers with scaled days."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import RunningServer, start_server
from tests.services.s3.helpers import error, new_bucket

FAST_DAY = 0.05  # 30 days = 1.5 s
BIG = b"\x5a" * (130 * 1024)  # above the 128 KB default minimum for transitions


def _wait(check: Callable[[], Any], timeout: float = 20.0, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(every)


EVENTS = ["s3:ObjectCreated:*", "s3:ObjectRestore:*", "s3:LifecycleTransition", "s3:LifecycleExpiration:*"]


def _notify_to_queue(srv: RunningServer, bucket: str) -> str:
    """Send the bucket's object, restore and lifecycle events to a new queue; its URL."""
    sqs = srv.client("sqs")
    url = sqs.create_queue(QueueName=f"{bucket}-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    srv.client("s3").put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": EVENTS}]},
    )
    return str(url)


def _records(srv: RunningServer, url: str, settle: float = 1.0) -> list[dict[str, Any]]:
    """Every event record the queue received (in order), until it has been quiet for `settle` s."""
    sqs, found = srv.client("sqs"), []
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < settle:
        out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        for msg in out.get("Messages", []):
            quiet_since = time.monotonic()
            found.extend(json.loads(msg["Body"]).get("Records", []))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
        time.sleep(0.05)
    return found


def _events(srv: RunningServer, url: str, settle: float = 1.0) -> list[dict[str, Any]]:
    return [{"event": r["eventName"], "key": r["s3"]["object"]["key"]} for r in _records(srv, url, settle)]


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = start_server(
        tmp_path_factory.mktemp("lc") / "data", env={"SQUALL_LIFECYCLE_DAY_SECONDS": str(FAST_DAY)}
    )
    yield srv
    srv.stop()


def _head(s3: Any, bucket: str, key: str) -> dict[str, Any]:
    return s3.head_object(Bucket=bucket, Key=key)  # type: ignore[no-any-return]


def _gone(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        return err.response["Error"]["Code"] in ("404", "NoSuchKey")
    return False


def test_transitions_then_restore(fast: RunningServer) -> None:
    s3 = fast.client("s3")
    bucket = new_bucket(s3)
    rule = {"ID": "tier", "Status": "Enabled", "Filter": {"Prefix": "t/"},
            "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}, {"Days": 90, "StorageClass": "GLACIER"}]}  # fmt: skip
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    s3.put_object(Bucket=bucket, Key="t/big", Body=BIG)
    s3.put_object(Bucket=bucket, Key="t/small", Body=b"tiny")  # under 128 KB: stays
    s3.put_object(Bucket=bucket, Key="other", Body=BIG)  # outside the filter: stays
    _wait(lambda: _head(s3, bucket, "t/big").get("StorageClass") == "STANDARD_IA")
    _wait(lambda: _head(s3, bucket, "t/big").get("StorageClass") == "GLACIER")
    assert "StorageClass" not in _head(s3, bucket, "t/small")
    assert "StorageClass" not in _head(s3, bucket, "other")
    listed = {o["Key"]: o["StorageClass"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert listed == {"t/big": "GLACIER", "t/small": "STANDARD", "other": "STANDARD"}
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="t/big")
    assert error(exc)["Code"] == "InvalidObjectState" and error(exc)["StorageClass"] == "GLACIER"
    # Expedited: 5 minutes scaled = 3.5 ms; the copy stays 100 scaled days = 5 s
    out = s3.restore_object(
        Bucket=bucket,
        Key="t/big",
        RestoreRequest={"Days": 100, "GlacierJobParameters": {"Tier": "Expedited"}},
    )
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 202
    restore = _wait(lambda: 'ongoing-request="false"' in _head(s3, bucket, "t/big").get("Restore", "") and
                    _head(s3, bucket, "t/big")["Restore"])  # fmt: skip
    assert 'expiry-date="' in restore and restore.endswith(' GMT"')
    assert s3.get_object(Bucket=bucket, Key="t/big")["Body"].read() == BIG
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="t/big", OptionalObjectAttributes=["RestoreStatus"])
    status = listed["Contents"][0]["RestoreStatus"]
    assert status["IsRestoreInProgress"] is False and status["RestoreExpiryDate"].year >= 2024
    assert _head(s3, bucket, "t/big")["StorageClass"] == "GLACIER"


def test_restore_completed_record_carries_glacier_event_data(fast: RunningServer) -> None:
    """AWS: `glacierEventData.restoreEventData` (the restored copy's expiry, the class restored
    from) is only in s3:ObjectRestore:Completed records."""
    s3 = fast.client("s3")
    bucket = new_bucket(s3)
    url = _notify_to_queue(fast, bucket)
    s3.put_object(Bucket=bucket, Key="cold key", Body=b"frozen", StorageClass="GLACIER")
    s3.restore_object(
        Bucket=bucket,
        Key="cold key",
        RestoreRequest={"Days": 100, "GlacierJobParameters": {"Tier": "Expedited"}},
    )
    restore = _wait(lambda: 'ongoing-request="false"' in _head(s3, bucket, "cold key").get("Restore", "") and
                    _head(s3, bucket, "cold key")["Restore"])  # fmt: skip
    by_name = {r["eventName"]: r for r in _records(fast, url)}
    assert set(by_name) == {"ObjectCreated:Put", "ObjectRestore:Post", "ObjectRestore:Completed"}
    assert "glacierEventData" not in by_name["ObjectRestore:Post"]
    assert "glacierEventData" not in by_name["ObjectCreated:Put"]
    completed = by_name["ObjectRestore:Completed"]
    assert completed["s3"]["object"]["key"] == "cold+key"
    data = completed["glacierEventData"]["restoreEventData"]
    assert set(data) == {"lifecycleRestorationExpiryTime", "lifecycleRestoreStorageClass"}
    assert data["lifecycleRestoreStorageClass"] == "GLACIER"
    expiry = datetime.strptime(data["lifecycleRestorationExpiryTime"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=UTC
    )
    header = parsedate_to_datetime(restore.split('expiry-date="')[1].rstrip('"'))
    assert expiry.replace(microsecond=0) == header  # the same instant as x-amz-restore's expiry-date


def test_expiration_by_prefix_and_tags(fast: RunningServer) -> None:
    s3 = fast.client("s3")
    bucket = new_bucket(s3)
    rule = {"ID": "drop-tmp", "Status": "Enabled", "Expiration": {"Days": 10},
            "Filter": {"And": {"Prefix": "tmp/", "Tags": [{"Key": "kind", "Value": "scratch"}]}}}  # fmt: skip
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    put = s3.put_object(Bucket=bucket, Key="tmp/a", Body=b"x", Tagging="kind=scratch")
    assert put["Expiration"].endswith('rule-id="drop-tmp"')
    s3.put_object(Bucket=bucket, Key="tmp/b", Body=b"x", Tagging="kind=keep")
    s3.put_object(Bucket=bucket, Key="keep/a", Body=b"x", Tagging="kind=scratch")
    _wait(lambda: _gone(s3, bucket, "tmp/a"))
    time.sleep(20 * FAST_DAY)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["keep/a", "tmp/b"]


def test_versioned_expiration_and_noncurrent_rules(fast: RunningServer) -> None:
    s3 = fast.client("s3")
    bucket = new_bucket(s3)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    ids = [s3.put_object(Bucket=bucket, Key="doc", Body=f"v{i}".encode())["VersionId"] for i in range(3)]
    rule = {"ID": "v", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 20},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 5, "NewerNoncurrentVersions": 1}}  # fmt: skip
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})

    def settled() -> bool:
        listing = s3.list_object_versions(Bucket=bucket)
        markers = listing.get("DeleteMarkers", [])
        kept = [v["VersionId"] for v in listing.get("Versions", [])]
        return len(markers) == 1 and markers[0]["IsLatest"] and kept == [ids[2]]

    _wait(settled)  # v0 expired, the current v2 got a delete marker, v1 expired, v2 kept (newest noncurrent)
    assert _gone(s3, bucket, "doc")


def test_expired_delete_marker_removed(fast: RunningServer) -> None:
    s3 = fast.client("s3")
    bucket = new_bucket(s3)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    s3.delete_object(Bucket=bucket, Key="k")
    s3.delete_object(Bucket=bucket, Key="k", VersionId=version)
    s3.put_object(Bucket=bucket, Key="alive", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="alive")  # a marker with a version behind it: kept
    rule = {
        "ID": "dm",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "Expiration": {"ExpiredObjectDeleteMarker": True},
    }
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    _wait(
        lambda: (
            [m["Key"] for m in s3.list_object_versions(Bucket=bucket).get("DeleteMarkers", [])] == ["alive"]
        )
    )


def test_abort_incomplete_multipart_upload(fast: RunningServer) -> None:
    s3 = fast.client("s3")
    bucket = new_bucket(s3)
    rule = {"ID": "mpu", "Status": "Enabled", "Filter": {"Prefix": "up/"},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}}  # fmt: skip
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    upload = s3.create_multipart_upload(Bucket=bucket, Key="up/file")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="up/file", UploadId=upload, PartNumber=1, Body=b"part")
    kept = s3.create_multipart_upload(Bucket=bucket, Key="elsewhere")["UploadId"]
    _wait(
        lambda: [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])] == [kept]
    )
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="up/file", UploadId=upload)
    assert error(exc)["Code"] == "NoSuchUpload"


def test_restore_survives_restart_and_expires(tmp_path: Path) -> None:
    """DEEP_ARCHIVE Bulk (48 h) with 1-second days: 2 s; the copy lasts 4 days rounded up, then
    a second request (200) sets it to 1 day from now."""
    data_dir = tmp_path / "data"
    env = {"SQUALL_LIFECYCLE_DAY_SECONDS": "1"}
    srv = start_server(data_dir, env=env)
    try:
        s3 = srv.client("s3")
        s3.create_bucket(Bucket="deep-bkt")
        url = _notify_to_queue(srv, "deep-bkt")
        s3.put_object(Bucket="deep-bkt", Key="k", Body=b"archived", StorageClass="DEEP_ARCHIVE")
        request = {"Days": 4, "GlacierJobParameters": {"Tier": "Bulk"}}
        out = s3.restore_object(Bucket="deep-bkt", Key="k", RestoreRequest=request)
        assert out["ResponseMetadata"]["HTTPStatusCode"] == 202
        assert _head(s3, "deep-bkt", "k")["Restore"] == 'ongoing-request="true"'
        with pytest.raises(ClientError) as exc:
            s3.restore_object(Bucket="deep-bkt", Key="k", RestoreRequest=request)
        assert error(exc)["Code"] == "RestoreAlreadyInProgress"
        srv.stop(signal.SIGKILL)
        srv = start_server(data_dir, env=env)
        s3 = srv.client("s3")
        _wait(lambda: 'ongoing-request="false"' in _head(s3, "deep-bkt", "k").get("Restore", ""))
        assert s3.get_object(Bucket="deep-bkt", Key="k")["Body"].read() == b"archived"
        again = s3.restore_object(Bucket="deep-bkt", Key="k", RestoreRequest={**request, "Days": 1})
        assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
        _wait(lambda: "Restore" not in _head(s3, "deep-bkt", "k"), timeout=10)
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket="deep-bkt", Key="k")
        assert error(exc)["Code"] == "InvalidObjectState"
        counts = Counter(e["event"] for e in _events(srv, url) if e["key"] == "k")
    finally:
        srv.stop()
    # at least once across the kill -9; the events after the restart exactly once
    assert set(counts) == {"ObjectCreated:Put", "ObjectRestore:Post", "ObjectRestore:Completed",
                           "ObjectRestore:Delete"}  # fmt: skip
    assert counts["ObjectRestore:Completed"] == 1 and counts["ObjectRestore:Delete"] == 1


def test_lifecycle_events_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    srv = start_server(data_dir, env={"SQUALL_LIFECYCLE_DAY_SECONDS": str(FAST_DAY)})
    try:
        s3 = srv.client("s3")
        s3.create_bucket(Bucket="ev-bkt")
        url = _notify_to_queue(srv, "ev-bkt")
        rule = {"ID": "r", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 40},
                "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}]}  # fmt: skip
        s3.put_bucket_lifecycle_configuration(Bucket="ev-bkt", LifecycleConfiguration={"Rules": [rule]})
        s3.put_object(Bucket="ev-bkt", Key="obj", Body=BIG)
        _wait(lambda: _gone(s3, "ev-bkt", "obj"))
        time.sleep(10 * FAST_DAY)
        names = [e["event"] for e in _events(srv, url) if e["key"] == "obj"]
    finally:
        srv.stop()
    assert names == ["ObjectCreated:Put", "LifecycleTransition", "LifecycleExpiration:Delete"]
