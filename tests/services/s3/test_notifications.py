"""S3 event notifications end to end: configuration, validation, the record shape, SQS and Lambda."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import RunningServer
from tests.services.lambda_.helpers import create as create_function
from tests.services.lambda_.helpers import make_zip, unique
from tests.services.s3.helpers import error, new_bucket

ACCOUNT = "000000000000"


def new_queue(sqs: Any) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def drain(sqs: Any, url: str, want: int, timeout: float = 20) -> list[dict[str, Any]]:
    """Bodies (parsed) of `want` messages, or fewer when the timeout runs out."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(found) < want and time.monotonic() < deadline:
        out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for msg in out.get("Messages", []):
            found.append(json.loads(msg["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    return found


def records(sqs: Any, url: str, want: int) -> list[dict[str, Any]]:
    bodies = [b for b in drain(sqs, url, want) if "Records" in b]
    return [r for b in bodies for r in b["Records"]]


def queue_config(arn: str, events: list[str], **filters: str) -> dict[str, Any]:
    config: dict[str, Any] = {"QueueArn": arn, "Events": events}
    if filters:
        rules = [{"Name": k, "Value": v} for k, v in filters.items()]
        config["Filter"] = {"Key": {"FilterRules": rules}}
    return config


@pytest.fixture
def clients(server: RunningServer) -> tuple[Any, Any]:
    return server.client("s3"), server.client("sqs")


def test_test_event_and_get_configuration(clients: tuple[Any, Any]) -> None:
    s3, sqs = clients
    bucket = new_bucket(s3)
    assert "QueueConfigurations" not in s3.get_bucket_notification_configuration(Bucket=bucket)
    url, arn = new_queue(sqs)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [queue_config(arn, ["s3:ObjectCreated:*"], prefix="in/")],
            "EventBridgeConfiguration": {},
        },
    )
    (test,) = drain(sqs, url, 1)
    assert test["Service"] == "Amazon S3" and test["Event"] == "s3:TestEvent" and test["Bucket"] == bucket
    assert set(test) == {"Service", "Event", "Time", "Bucket", "RequestId", "HostId"}
    assert test["Time"].endswith("Z")
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    (qc,) = got["QueueConfigurations"]
    assert qc["QueueArn"] == arn and qc["Events"] == ["s3:ObjectCreated:*"] and qc["Id"]
    assert qc["Filter"] == {"Key": {"FilterRules": [{"Name": "Prefix", "Value": "in/"}]}}
    assert got["EventBridgeConfiguration"] == {}


def test_record_shapes_for_put_copy_multipart_delete(clients: tuple[Any, Any]) -> None:
    s3, sqs = clients
    bucket = new_bucket(s3)
    url, arn = new_queue(sqs)
    config = {"Id": "all", **queue_config(arn, ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"])}
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [config]}
    )
    drain(sqs, url, 1)  # the test event
    put = s3.put_object(Bucket=bucket, Key="dir/a b=c.txt", Body=b"hello")
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "dir/a b=c.txt"})
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"x" * 10)
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )  # fmt: skip
    s3.delete_object(Bucket=bucket, Key="copy")
    got = records(sqs, url, 4)
    assert [r["eventName"] for r in got] == [
        "ObjectCreated:Put", "ObjectCreated:Copy", "ObjectCreated:CompleteMultipartUpload",
        "ObjectRemoved:Delete",
    ]  # fmt: skip
    first = got[0]
    assert set(first) == {
        "eventVersion", "eventSource", "awsRegion", "eventTime", "eventName", "userIdentity",
        "requestParameters", "responseElements", "s3",
    }  # fmt: skip
    assert first["eventVersion"] == "2.1" and first["eventSource"] == "aws:s3"
    assert first["awsRegion"] == "us-east-1" and first["eventTime"].endswith("Z")
    assert first["requestParameters"]["sourceIPAddress"]
    assert first["responseElements"]["x-amz-request-id"] == put["ResponseMetadata"]["RequestId"]
    assert first["responseElements"]["x-amz-id-2"]
    assert first["userIdentity"]["principalId"]
    s3rec = first["s3"]
    assert s3rec["s3SchemaVersion"] == "1.0" and s3rec["configurationId"] == "all"
    assert s3rec["bucket"] == {
        "name": bucket, "ownerIdentity": {"principalId": ACCOUNT}, "arn": f"arn:aws:s3:::{bucket}"
    }  # fmt: skip
    obj = s3rec["object"]
    assert obj["key"] == "dir/a+b%3Dc.txt" and obj["size"] == 5
    assert obj["eTag"] == put["ETag"].strip('"') and "versionId" not in obj
    assert int(obj["sequencer"], 16) > 0
    assert got[2]["s3"]["object"]["eTag"].endswith("-1")
    removed = got[3]["s3"]["object"]
    assert set(removed) == {"key", "sequencer"} and removed["key"] == "copy"
    sequencers = [int(r["s3"]["object"]["sequencer"], 16) for r in got]
    assert sequencers == sorted(sequencers)


def test_versioned_bucket_delete_marker(clients: tuple[Any, Any]) -> None:
    s3, sqs = clients
    bucket = new_bucket(s3)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    url, arn = new_queue(sqs)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"QueueConfigurations": [queue_config(arn, ["s3:ObjectRemoved:*"])]},
    )
    drain(sqs, url, 1)
    version = s3.put_object(Bucket=bucket, Key="k", Body=b"1")["VersionId"]
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    s3.delete_object(Bucket=bucket, Key="k", VersionId=version)
    got = records(sqs, url, 2)
    assert [r["eventName"] for r in got] == ["ObjectRemoved:DeleteMarkerCreated", "ObjectRemoved:Delete"]
    assert got[0]["s3"]["object"]["versionId"] == marker
    assert got[1]["s3"]["object"]["versionId"] == version


def test_prefix_and_suffix_filters(clients: tuple[Any, Any]) -> None:
    s3, sqs = clients
    bucket = new_bucket(s3)
    url, arn = new_queue(sqs)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [queue_config(arn, ["s3:ObjectCreated:Put"], prefix="in/", suffix=".csv")]
        },
    )
    drain(sqs, url, 1)
    for key in ("in/a.csv", "in/b.txt", "out/c.csv", "in/d.csv"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    s3.copy_object(Bucket=bucket, Key="in/e.csv", CopySource={"Bucket": bucket, "Key": "in/a.csv"})
    s3.put_object(Bucket=bucket, Key="in/last.csv", Body=b"x")
    got = records(sqs, url, 3)
    assert [r["s3"]["object"]["key"] for r in got] == ["in/a.csv", "in/d.csv", "in/last.csv"]


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ((["s3:ObjectCreated:*"], {}), (["s3:ObjectCreated:Put"], {"prefix": "x"}), True),
        ((["s3:ObjectCreated:*"], {"prefix": "a/"}), (["s3:ObjectCreated:*"], {"prefix": "a/b"}), True),
        ((["s3:ObjectCreated:*"], {"prefix": "a/"}), (["s3:ObjectCreated:*"], {"prefix": "b/"}), False),
        ((["s3:ObjectCreated:*"], {"suffix": ".jpg"}), (["s3:ObjectCreated:*"], {"suffix": ".png"}), False),
        ((["s3:ObjectCreated:Put"], {}), (["s3:ObjectRemoved:*"], {}), False),
    ],
)
def test_overlap_validation(clients: tuple[Any, Any], a: Any, b: Any, overlap: bool) -> None:
    s3, sqs = clients
    bucket = new_bucket(s3)
    _, arn = new_queue(sqs)
    config = {"QueueConfigurations": [queue_config(arn, a[0], **a[1]), queue_config(arn, b[0], **b[1])]}
    if not overlap:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
        assert len(s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]) == 2
        return
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
    assert error(exc)["Code"] == "InvalidArgument"
    assert error(exc)["Message"] == (
        "Configurations overlap. Configurations on the same bucket cannot share a common event type."
    )


def test_missing_queue_and_bad_event_are_refused(clients: tuple[Any, Any]) -> None:
    s3, _ = clients
    bucket = new_bucket(s3)
    missing = f"arn:aws:sqs:us-east-1:{ACCOUNT}:no-such-queue"
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "QueueConfigurations": [queue_config(missing, ["s3:ObjectCreated:*"])]
            },
        )
    assert error(exc)["Code"] == "InvalidArgument"
    assert error(exc)["Message"] == "Unable to validate the following destination configurations"
    assert error(exc)["ArgumentName1"] == missing
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={"QueueConfigurations": [queue_config(missing, ["s3:Nothing:*"])]},
        )
    assert error(exc)["Code"] == "InvalidArgument"


PRINTER = "import json\n\ndef handler(event, context):\n    print('S3EVENT ' + json.dumps(event))\n"


def test_s3_to_lambda_pipeline(server: RunningServer) -> None:
    s3, lam, logs = server.client("s3"), server.client("lambda"), server.client("logs")
    bucket = new_bucket(s3)
    name = unique("s3fn")
    arn = create_function(lam, name, Code={"ZipFile": make_zip(PRINTER)})["FunctionArn"]
    config = {"LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]}
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
    assert error(exc)["Message"] == "Unable to validate the following destination configurations"
    assert error(exc)["ArgumentName1"] == arn
    lam.add_permission(
        FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
        SourceArn=f"arn:aws:s3:::{bucket}", SourceAccount=ACCOUNT,
    )  # fmt: skip
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
    s3.put_object(Bucket=bucket, Key="incoming/data 1.json", Body=b"{}")
    deadline = time.monotonic() + 30
    found: list[str] = []
    while not found and time.monotonic() < deadline:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern='"S3EVENT"')
            found = [e["message"] for e in events["events"]]
        except ClientError:
            pass
        if not found:
            time.sleep(0.3)
    assert found, "the function never received the event"
    event = json.loads(found[0].split("S3EVENT ", 1)[1])
    (record,) = event["Records"]
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["object"]["key"] == "incoming/data+1.json"
    assert record["s3"]["bucket"]["name"] == bucket


def test_topic_configuration_fans_out_through_sns(server: RunningServer) -> None:
    s3, sqs, sns = server.client("s3"), server.client("sqs"), server.client("sns")
    bucket = new_bucket(s3)
    url, queue_arn = new_queue(sqs)
    topic = sns.create_topic(Name=unique("s3t"))["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    with pytest.raises(ClientError) as err:  # a topic that does not exist is refused
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "TopicConfigurations": [{"TopicArn": topic + "-nope", "Events": ["s3:ObjectCreated:*"]}]
            },
        )
    assert error(err)["Code"] == "InvalidArgument"
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    s3.put_object(Bucket=bucket, Key="a b.txt", Body=b"hello")
    deadline = time.monotonic() + 20
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not found:
        for envelope in drain(sqs, url, 1, timeout=2):
            assert envelope["Type"] == "Notification" and envelope["TopicArn"] == topic
            body = json.loads(envelope["Message"])
            if "Records" in body:
                assert envelope["Subject"] == "Amazon S3 Notification"
                found.extend(body["Records"])
    (record,) = found
    assert record["eventName"] == "ObjectCreated:Put" and record["s3"]["object"]["key"] == "a+b.txt"
    assert record["s3"]["bucket"]["name"] == bucket and record["s3"]["object"]["size"] == 5
