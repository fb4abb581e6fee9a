"""Hostile tenant: account B reaches for account A's resources (issue 13, item 3).

Each attack is refused with AWS's answer for a cross-account call that no resource policy
allows; each then succeeds once A grants B in the resource policy (queue policy, topic policy,
AddPermission, bucket policy), and fails again once the grant is withdrawn. One server with two
root keys: A is the default account (`test`), B signs with its own key.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from tests.conftest import RunningServer, start_server
from tests.services.lambda_.helpers import create, make_zip

A = "000000000000"
B = "111111111111"
B_KEY, B_SECRET = "AKIDACCOUNTB0000", "b-secret"
B_ROLE = f"arn:aws:iam::{B}:role/b-lambda"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data: Path = tmp_path_factory.mktemp("xacct") / "data"
    server = start_server(data, "--root-key", "test:test", "--root-key", f"{B_KEY}:{B_SECRET}:{B}")
    yield server
    server.stop()


def a(srv: RunningServer, service: str) -> Any:
    return srv.client(service)


def b(srv: RunningServer, service: str) -> Any:
    return srv.client(service, access_key=B_KEY, secret=B_SECRET)


def refused(call: Callable[[], Any]) -> dict[str, Any]:
    """The error response of a call that must fail."""
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call()
    return err.value.response  # type: ignore[no-any-return]


def code_status(resp: dict[str, Any]) -> tuple[str, int]:
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"]


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_for(check: Callable[[], Any], timeout: float = 30, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def queue_policy(queue_arn: str, actions: list[str], principal: Any, **extra: Any) -> str:
    statement = {"Effect": "Allow", "Principal": principal, "Action": actions, "Resource": queue_arn, **extra}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def new_queue(sqs: Any, prefix: str = "xq", **attributes: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name(prefix), Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


# -- SQS -----------------------------------------------------------------------------------------


def test_sqs_by_url_refused_until_granted_and_after_revoked(srv: RunningServer) -> None:
    sqs_a, sqs_b = a(srv, "sqs"), b(srv, "sqs")
    url, arn = new_queue(sqs_a)
    sqs_a.send_message(QueueUrl=url, MessageBody="secret of A")
    qname = url.rsplit("/", 1)[-1]

    attacks: dict[str, Callable[[], Any]] = {
        "SendMessage": lambda: sqs_b.send_message(QueueUrl=url, MessageBody="from B"),
        "SendMessageBatch": lambda: sqs_b.send_message_batch(
            QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "from B"}]
        ),
        "ReceiveMessage": lambda: sqs_b.receive_message(QueueUrl=url),
        "GetQueueAttributes": lambda: sqs_b.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]),
        "PurgeQueue": lambda: sqs_b.purge_queue(QueueUrl=url),
    }
    for op, attack in attacks.items():
        resp = refused(attack)
        assert code_status(resp) == ("AccessDenied", 403), op
        assert f"arn:aws:iam::{B}:root is not authorized to perform: sqs:" in resp["Error"]["Message"], op
    # GetQueueUrl reveals nothing of another account's queues
    resp = refused(lambda: sqs_b.get_queue_url(QueueName=qname, QueueOwnerAWSAccountId=A))
    assert code_status(resp) == ("AWS.SimpleQueueService.NonExistentQueue", 400)
    # what only the owner may do stays refused even with a grant of everything
    everything = queue_policy(arn, ["sqs:*"], {"AWS": B})
    sqs_a.set_queue_attributes(QueueUrl=url, Attributes={"Policy": everything})
    for attack in (
        lambda: sqs_b.delete_queue(QueueUrl=url),
        lambda: sqs_b.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""}),
        lambda: sqs_b.tag_queue(QueueUrl=url, Tags={"owned": "by-b"}),
        lambda: sqs_b.list_queue_tags(QueueUrl=url),
    ):
        assert code_status(refused(attack)) == ("AccessDenied", 403)

    # granted: B may use the queue
    sqs_a.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "Policy": queue_policy(
                arn,
                ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
                {"AWS": f"arn:aws:iam::{B}:root"},
            )
        },
    )
    assert sqs_b.get_queue_url(QueueName=qname, QueueOwnerAWSAccountId=A)["QueueUrl"].endswith(
        f"/{A}/{qname}"
    )
    sqs_b.send_message(QueueUrl=url, MessageBody="from B")
    assert (
        sqs_b.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"] == arn
    )
    got = sqs_b.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert {m["Body"] for m in got} <= {"secret of A", "from B"} and got
    # ... but only what was granted
    assert code_status(refused(lambda: sqs_b.purge_queue(QueueUrl=url))) == ("AccessDenied", 403)

    # an explicit Deny wins over the Allow
    deny = json.loads(queue_policy(arn, ["sqs:SendMessage", "sqs:ReceiveMessage"], {"AWS": B}))
    deny["Statement"].append({"Effect": "Deny", "Principal": "*", "Action": "sqs:Send*", "Resource": arn})
    sqs_a.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(deny)})
    assert code_status(refused(lambda: sqs_b.send_message(QueueUrl=url, MessageBody="x"))) == (
        "AccessDenied",
        403,
    )
    sqs_b.receive_message(QueueUrl=url)

    # revoked: refused again
    sqs_a.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})
    for op, attack in attacks.items():
        assert code_status(refused(attack)) == ("AccessDenied", 403), op
    resp = refused(lambda: sqs_b.get_queue_url(QueueName=qname, QueueOwnerAWSAccountId=A))
    assert code_status(resp) == ("AWS.SimpleQueueService.NonExistentQueue", 400)


def test_sqs_query_protocol_refuses_with_access_denied(srv: RunningServer) -> None:
    """The legacy query protocol (form-encoded `Action=...`) answers AWS's XML AccessDenied."""
    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    url, _ = new_queue(a(srv, "sqs"))
    body = urllib.parse.urlencode(
        {"Action": "ReceiveMessage", "Version": "2012-11-05", "QueueUrl": url}
    ).encode()
    session = botocore.session.get_session()
    session.set_credentials(B_KEY, B_SECRET)
    req = AWSRequest(
        method="POST",
        url=srv.endpoint + "/",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    SigV4Auth(session.get_credentials(), "sqs", "us-east-1").add_auth(req)
    request = urllib.request.Request(req.url, data=body, headers=dict(req.headers.items()), method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 403
    xml = err.value.read().decode()
    assert "<Code>AccessDenied</Code>" in xml and "<Type>Sender</Type>" in xml, xml


def test_redrive_into_another_accounts_queue_is_refused(srv: RunningServer) -> None:
    _, dlq_arn = new_queue(a(srv, "sqs"), "dlq")
    a(srv, "sqs").set_queue_attributes(
        QueueUrl=a(srv, "sqs").get_queue_url(QueueName=dlq_arn.rsplit(":", 1)[-1])["QueueUrl"],
        Attributes={"Policy": queue_policy(dlq_arn, ["sqs:*"], "*")},
    )
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    resp = refused(
        lambda: b(srv, "sqs").create_queue(QueueName=name("src"), Attributes={"RedrivePolicy": redrive})
    )
    assert code_status(resp) == ("InvalidParameterValue", 400)
    assert "Dead-letter target owner should be same as the source" in resp["Error"]["Message"]


# -- SNS -----------------------------------------------------------------------------------------


def test_sns_publish_and_subscribe_to_another_accounts_topic(srv: RunningServer) -> None:
    sns_a, sns_b, sqs_b = a(srv, "sns"), b(srv, "sns"), b(srv, "sqs")
    topic = sns_a.create_topic(Name=name("topic"))["TopicArn"]
    url_b, arn_b = new_queue(sqs_b, "bq")
    # B's queue lets A's topic deliver into it (what B controls)
    sqs_b.set_queue_attributes(
        QueueUrl=url_b,
        Attributes={
            "Policy": queue_policy(
                arn_b,
                ["sqs:SendMessage"],
                {"Service": "sns.amazonaws.com"},
                Condition={"ArnEquals": {"aws:SourceArn": topic}},
            )
        },
    )

    def attacks() -> list[dict[str, Any]]:
        return [
            refused(lambda: sns_b.publish(TopicArn=topic, Message="forged")),
            refused(lambda: sns_b.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn_b)),
        ]

    for resp in attacks():
        assert code_status(resp) == ("AuthorizationError", 403)

    sns_a.add_permission(TopicArn=topic, Label="b", AWSAccountId=[B], ActionName=["Publish", "Subscribe"])
    sub = sns_b.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=arn_b, Attributes={"RawMessageDelivery": "true"}
    )["SubscriptionArn"]
    assert sub.startswith(topic)
    sns_b.publish(TopicArn=topic, Message="granted")

    def delivered() -> list[str]:
        return [
            m["Body"] for m in sqs_b.receive_message(QueueUrl=url_b, WaitTimeSeconds=1).get("Messages", [])
        ]

    assert wait_for(delivered) == ["granted"]

    sns_a.remove_permission(TopicArn=topic, Label="b")
    for resp in attacks():
        assert code_status(resp) == ("AuthorizationError", 403)


# -- Lambda --------------------------------------------------------------------------------------


def test_lambda_invoke_and_get_function_by_arn(srv: RunningServer) -> None:
    lam_a, lam_b = a(srv, "lambda"), b(srv, "lambda")
    fn = name("fn")
    arn = create(lam_a, fn)["FunctionArn"]
    partial = f"{A}:function:{fn}"

    def attacks() -> list[dict[str, Any]]:
        return [
            refused(lambda: lam_b.invoke(FunctionName=arn, Payload=b"{}")),
            refused(lambda: lam_b.invoke(FunctionName=partial, Payload=b"{}", InvocationType="Event")),
            refused(lambda: lam_b.get_function(FunctionName=arn)),
            refused(lambda: lam_b.get_function_configuration(FunctionName=arn)),
        ]

    for resp in attacks():
        assert code_status(resp) == ("AccessDeniedException", 403)
        assert f"arn:aws:iam::{B}:root is not authorized to perform: lambda:" in resp["Error"]["Message"]

    lam_a.add_permission(FunctionName=fn, StatementId="b-invoke", Action="lambda:InvokeFunction", Principal=B)
    lam_a.add_permission(FunctionName=fn, StatementId="b-get", Action="lambda:GetFunction", Principal=B)
    out = lam_b.invoke(FunctionName=arn, Payload=b'{"from": "b"}')
    assert out["StatusCode"] == 200 and json.loads(out["Payload"].read()) == {"from": "b"}
    assert lam_b.get_function(FunctionName=arn)["Configuration"]["FunctionArn"] == arn
    # GetFunctionConfiguration was not granted
    assert code_status(refused(lambda: lam_b.get_function_configuration(FunctionName=arn)))[1] == 403
    # nor anything the owner alone does
    assert code_status(refused(lambda: lam_b.delete_function(FunctionName=arn)))[1] == 403

    lam_a.remove_permission(FunctionName=fn, StatementId="b-invoke")
    lam_a.remove_permission(FunctionName=fn, StatementId="b-get")
    for resp in attacks():
        assert code_status(resp) == ("AccessDeniedException", 403)


# -- DynamoDB ------------------------------------------------------------------------------------


def _table_with_stream(ddb: Any) -> tuple[str, str, str]:
    table = name("tbl")
    desc = ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    ddb.get_waiter("table_exists").wait(TableName=table)
    return table, desc["TableArn"], desc["LatestStreamArn"]


def test_dynamodb_table_and_stream_of_another_account(srv: RunningServer) -> None:
    ddb_a, ddb_b = a(srv, "dynamodb"), b(srv, "dynamodb")
    table, table_arn, stream_arn = _table_with_stream(ddb_a)
    ddb_a.put_item(TableName=table, Item={"pk": {"S": "k"}, "secret": {"S": "of A"}})
    # A may name its own table by ARN
    assert ddb_a.get_item(TableName=table_arn, Key={"pk": {"S": "k"}})["Item"]["secret"] == {"S": "of A"}

    for op, attack in {
        "GetItem": lambda: ddb_b.get_item(TableName=table_arn, Key={"pk": {"S": "k"}}),
        "PutItem": lambda: ddb_b.put_item(TableName=table_arn, Item={"pk": {"S": "b"}}),
        "Scan": lambda: ddb_b.scan(TableName=table_arn),
        "DescribeTable": lambda: ddb_b.describe_table(TableName=table_arn),
    }.items():
        resp = refused(attack)
        assert code_status(resp) == ("AccessDeniedException", 400), op
        assert f"dynamodb:{op} on resource: {table_arn}" in resp["Error"]["Message"]

    streams_b = b(srv, "dynamodbstreams")
    for attack in (
        lambda: streams_b.describe_stream(StreamArn=stream_arn),
        lambda: streams_b.get_shard_iterator(
            StreamArn=stream_arn,
            ShardId="shardId-00000000000000000000-00000000",
            ShardIteratorType="TRIM_HORIZON",
        ),
    ):
        assert code_status(refused(attack)) == ("AccessDeniedException", 400)

    # a mapping in B on A's stream: refused
    lam_b = b(srv, "lambda")
    fn = name("fn")
    create(lam_b, fn, Role=B_ROLE)
    resp = refused(
        lambda: lam_b.create_event_source_mapping(
            FunctionName=fn, EventSourceArn=stream_arn, StartingPosition="TRIM_HORIZON"
        )
    )
    assert code_status(resp) == ("InvalidParameterValueException", 400)
    assert f"Cannot access stream {stream_arn}" in resp["Error"]["Message"]
    assert lam_b.list_event_source_mappings(FunctionName=fn)["EventSourceMappings"] == []


# -- S3 ------------------------------------------------------------------------------------------


def test_s3_get_object_of_another_accounts_bucket(srv: RunningServer) -> None:
    s3_a, s3_b = a(srv, "s3"), b(srv, "s3")
    bucket = name("bkt")
    s3_a.create_bucket(Bucket=bucket)
    s3_a.put_object(Bucket=bucket, Key="secret.txt", Body=b"of A")

    def attack() -> dict[str, Any]:
        return refused(lambda: s3_b.get_object(Bucket=bucket, Key="secret.txt"))

    assert code_status(attack()) == ("AccessDenied", 403)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    s3_a.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    assert s3_b.get_object(Bucket=bucket, Key="secret.txt")["Body"].read() == b"of A"
    # GetObject only: no writes, no policy reads
    assert code_status(refused(lambda: s3_b.put_object(Bucket=bucket, Key="b", Body=b"x"))) == (
        "AccessDenied",
        403,
    )
    assert code_status(refused(lambda: s3_b.get_bucket_policy(Bucket=bucket))) == ("AccessDenied", 403)
    s3_a.delete_bucket_policy(Bucket=bucket)
    assert code_status(attack()) == ("AccessDenied", 403)


# -- Event source mappings, destinations -------------------------------------------------------

# reports each batch's bodies to $OUT (a queue of B)
REPORTER = """
import json, os
import boto3

def handler(event, context):
    boto3.client("sqs").send_message(
        QueueUrl=os.environ["OUT"], MessageBody=json.dumps([r["body"] for r in event["Records"]])
    )
"""


def test_sqs_mapping_on_another_accounts_queue(srv: RunningServer) -> None:
    sqs_a, sqs_b, lam_b = a(srv, "sqs"), b(srv, "sqs"), b(srv, "lambda")
    url, arn = new_queue(sqs_a, "src")
    out_url, _ = new_queue(sqs_b, "out")
    fn = name("fn")
    create(
        lam_b,
        fn,
        Role=B_ROLE,
        Code={"ZipFile": make_zip(REPORTER)},
        Environment={"Variables": {"OUT": out_url}},
    )

    resp = refused(
        lambda: lam_b.create_event_source_mapping(FunctionName=fn, EventSourceArn=arn, BatchSize=1)
    )
    assert code_status(resp) == ("InvalidParameterValueException", 400)
    assert "does not have permissions to call ReceiveMessage on SQS" in resp["Error"]["Message"]

    # A grants B's execution role
    grant = queue_policy(
        arn, ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], {"AWS": B_ROLE}
    )
    sqs_a.set_queue_attributes(QueueUrl=url, Attributes={"Policy": grant})
    mapping = lam_b.create_event_source_mapping(FunctionName=fn, EventSourceArn=arn, BatchSize=1)["UUID"]
    sqs_a.send_message(QueueUrl=url, MessageBody="while granted")

    def reported() -> list[str]:
        msgs = sqs_b.receive_message(QueueUrl=out_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        for m in msgs:
            sqs_b.delete_message(QueueUrl=out_url, ReceiptHandle=m["ReceiptHandle"])
        return [body for m in msgs for body in json.loads(m["Body"])]

    assert wait_for(reported, timeout=60) == ["while granted"]

    # A withdraws the grant: the poller, acting as B's role, stops at its next receive
    sqs_a.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})
    sqs_a.send_message(QueueUrl=url, MessageBody="after revocation")
    assert wait_for(lambda: f"event source mapping {mapping}" in srv.log() and "not authorized" in srv.log())
    # the message is still A's: the mapping never received or invoked with it
    got = wait_for(
        lambda: sqs_a.receive_message(QueueUrl=url, WaitTimeSeconds=1, AttributeNames=["All"]).get("Messages")
    )
    assert [m["Body"] for m in got] == ["after revocation"]
    assert reported() == []
    # and the mapping cannot be re-targeted at the queue while ungranted
    resp = refused(lambda: lam_b.update_event_source_mapping(UUID=mapping, BatchSize=2))
    assert code_status(resp) == ("InvalidParameterValueException", 400)
    lam_b.delete_event_source_mapping(UUID=mapping)


FAILING = "def handler(event, context):\n    raise RuntimeError('fail on purpose')\n"


def test_destination_into_another_accounts_queue(srv: RunningServer) -> None:
    sqs_a, lam_b = a(srv, "sqs"), b(srv, "lambda")
    url, arn = new_queue(sqs_a, "dest")
    fn = name("fn")
    create(lam_b, fn, Role=B_ROLE, Code={"ZipFile": make_zip(FAILING)})
    lam_b.put_function_event_invoke_config(
        FunctionName=fn,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": arn}},
    )
    lam_b.invoke(FunctionName=fn, InvocationType="Event", Payload=b'{"n": 1}')
    assert wait_for(lambda: f"OnFailure {arn} not delivered" in srv.log(), timeout=60)
    assert "not authorized to perform: sqs:SendMessage" in srv.log()
    assert not sqs_a.receive_message(QueueUrl=url).get("Messages")

    # granted: the next failure's record arrives
    sqs_a.set_queue_attributes(
        QueueUrl=url, Attributes={"Policy": queue_policy(arn, ["sqs:SendMessage"], {"AWS": B_ROLE})}
    )
    lam_b.invoke(FunctionName=fn, InvocationType="Event", Payload=b'{"n": 2}')
    got = wait_for(lambda: sqs_a.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages"), timeout=60)
    assert json.loads(got[0]["Body"])["requestPayload"] == {"n": 2}


def test_function_role_of_another_account_is_not_acted_as(srv: RunningServer) -> None:
    """A function of B declaring A's role gets no access a grant to A's role would give."""
    sqs_a, lam_b = a(srv, "sqs"), b(srv, "lambda")
    url, arn = new_queue(sqs_a, "src")
    role_a = f"arn:aws:iam::{A}:role/a-role"
    sqs_a.set_queue_attributes(
        QueueUrl=url, Attributes={"Policy": queue_policy(arn, ["sqs:*"], {"AWS": role_a})}
    )
    fn = name("fn")
    create(lam_b, fn, Role=role_a)
    resp = refused(lambda: lam_b.create_event_source_mapping(FunctionName=fn, EventSourceArn=arn))
    assert code_status(resp) == ("InvalidParameterValueException", 400)


def test_s3_notification_into_another_accounts_queue(srv: RunningServer) -> None:
    """B's bucket notifies A's queue: nothing arrives until A's queue policy lets S3 send for
    that bucket, and nothing again once the grant is withdrawn."""
    sqs_a, s3_b = a(srv, "sqs"), b(srv, "s3")
    url, arn = new_queue(sqs_a, "notif")
    bucket = name("bkt")
    s3_b.create_bucket(Bucket=bucket)
    s3_b.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    s3_b.put_object(Bucket=bucket, Key="before", Body=b"x")
    assert wait_for(lambda: f"s3: event for {bucket}/before not delivered" in srv.log())
    assert "not authorized to perform: sqs:SendMessage" in srv.log()

    grant = queue_policy(
        arn,
        ["sqs:SendMessage"],
        {"Service": "s3.amazonaws.com"},
        Condition={
            "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"},
            "StringEquals": {"aws:SourceAccount": B},
        },
    )
    sqs_a.set_queue_attributes(QueueUrl=url, Attributes={"Policy": grant})
    s3_b.put_object(Bucket=bucket, Key="granted", Body=b"x")

    def keys() -> list[str]:
        msgs = sqs_a.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        return [r["s3"]["object"]["key"] for m in msgs for r in json.loads(m["Body"]).get("Records", [])]

    assert wait_for(keys) == ["granted"]

    sqs_a.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})
    s3_b.put_object(Bucket=bucket, Key="after", Body=b"x")
    assert wait_for(lambda: f"s3: event for {bucket}/after not delivered" in srv.log())


def test_message_move_task_on_another_accounts_dlq(srv: RunningServer) -> None:
    """Redrive out of (or into) another account's queue is the owner's alone, whatever its policy."""
    sqs_a, sqs_b = a(srv, "sqs"), b(srv, "sqs")
    dlq_url, dlq_arn = new_queue(sqs_a, "dlq")
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    sqs_a.create_queue(QueueName=name("src"), Attributes={"RedrivePolicy": redrive})
    sqs_a.set_queue_attributes(QueueUrl=dlq_url, Attributes={"Policy": queue_policy(dlq_arn, ["sqs:*"], "*")})
    for attack in (
        lambda: sqs_b.start_message_move_task(SourceArn=dlq_arn),
        lambda: sqs_b.list_message_move_tasks(SourceArn=dlq_arn),
    ):
        assert code_status(refused(attack)) == ("AccessDenied", 403)
    handle = sqs_a.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    resp = refused(lambda: sqs_b.cancel_message_move_task(TaskHandle=handle))
    assert code_status(resp) == ("AccessDenied", 403)


def test_sns_subscriptions_of_another_account(srv: RunningServer) -> None:
    """B can neither read, change nor remove A's subscription by its ARN."""
    sns_a, sqs_a, sns_b = a(srv, "sns"), a(srv, "sqs"), b(srv, "sns")
    topic = sns_a.create_topic(Name=name("topic"))["TopicArn"]
    _, queue_arn = new_queue(sqs_a, "subq")
    sub = sns_a.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)["SubscriptionArn"]
    for attack in (
        lambda: sns_b.get_subscription_attributes(SubscriptionArn=sub),
        lambda: sns_b.set_subscription_attributes(
            SubscriptionArn=sub, AttributeName="FilterPolicy", AttributeValue='{"drop": ["all"]}'
        ),
        lambda: sns_b.unsubscribe(SubscriptionArn=sub),
    ):
        assert code_status(refused(attack)) == ("AuthorizationError", 403)
    attrs = sns_a.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert "FilterPolicy" not in attrs and attrs["Endpoint"] == queue_arn


def test_logs_group_arn_of_another_account(srv: RunningServer) -> None:
    """A log group ARN of A used by B is refused (it used to read B's own group of that name)."""
    logs_a, logs_b = a(srv, "logs"), b(srv, "logs")
    group = f"/xacct/{name('g')}"
    logs_a.create_log_group(logGroupName=group)
    logs_b.create_log_group(logGroupName=group)
    arn_a = f"arn:aws:logs:us-east-1:{A}:log-group:{group}"
    resp = refused(lambda: logs_b.describe_log_streams(logGroupIdentifier=arn_a))
    assert code_status(resp) == ("AccessDeniedException", 400)
    assert logs_a.describe_log_streams(logGroupIdentifier=arn_a)["logStreams"] == []
