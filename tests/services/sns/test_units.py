"""Units: the HTTP retry schedule, canonical strings, and the in-process SnsTopics.publish door."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from squall.lib.tasks import running
from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext
from squall.services.sns.policies import RetryPolicy, retry_policy_for
from squall.services.sns.provider import SnsProvider
from squall.services.sns.signing import canonical_string
from squall.services.sqs.provider import SqsProvider
from tests.inprocess import composed, context

A, R = "000000000000", "us-east-1"


def test_default_http_schedule_is_three_retries_20s_apart() -> None:
    policy, content_type = retry_policy_for(None, None)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [20, 20, 20, None]
    assert content_type == "text/plain; charset=UTF-8"


def test_phases() -> None:
    p = RetryPolicy(
        min_delay=1, max_delay=10, retries=7, no_delay=1, min_delay_retries=1, max_delay_retries=1
    )
    delays = [p.delay(n) for n in range(1, 9)]
    assert delays[0] == 0 and delays[1] == 1 and delays[6] == 10 and delays[7] is None
    backoff = delays[2:6]
    assert backoff == sorted(backoff) and backoff[0] == 1 and backoff[-1] == 10
    topic = json.dumps(
        {"http": {"defaultHealthyRetryPolicy": {"numRetries": 1}, "disableSubscriptionOverrides": True}}
    )
    sub = json.dumps({"healthyRetryPolicy": {"numRetries": 9}})
    assert retry_policy_for(topic, sub)[0].retries == 1
    with pytest.raises(ServiceError):
        RetryPolicy.from_json({"minDelayTarget": 30, "maxDelayTarget": 20})


def test_canonical_string_skips_absent_subject() -> None:
    doc = {"Type": "Notification", "MessageId": "m", "TopicArn": "t", "Message": "x", "Timestamp": "ts"}
    assert (
        canonical_string(doc) == b"Message\nx\nMessageId\nm\nTimestamp\nts\nTopicArn\nt\nType\nNotification\n"
    )


def ctx(operation: str) -> RequestContext:
    return context("r", A, R, "sns", operation, "test", None, "http://localhost:4566")


def test_in_process_publish(tmp_path: Path) -> None:
    """SNS delivers to SQS through the in-process client, built by the composition root."""
    with composed(tmp_path) as services:
        sns = services.provider("sns")
        sqs = services.provider("sqs")
        assert isinstance(sns, SnsProvider) and isinstance(sqs, SqsProvider)

        async def scenario() -> None:
            async with running(*(c for _, c in services.background)):
                topic = (await sns.dispatch(ctx("CreateTopic"), {"Name": "t"}))["TopicArn"]
                q = await sqs.dispatch(
                    context("r", A, R, "sqs", "CreateQueue", "test", None, "http://localhost:4566"),
                    {"QueueName": "q"},
                )
                qarn = sqs.queues.queue(A, R, q["QueueUrl"]).arn
                await sns.dispatch(ctx("Subscribe"), {"TopicArn": topic, "Protocol": "sqs", "Endpoint": qarn})
                mid = sns.topics.publish(
                    A, R, topic, "hi", {"a": {"DataType": "String", "StringValue": "1"}}, "subj"
                )
                [msg] = await sqs.queues.receive(A, R, qarn, wait_s=5)
                body = json.loads(msg.body)
                assert (body["MessageId"], body["Message"], body["Subject"]) == (mid, "hi", "subj")
                with pytest.raises(ServiceError) as err:
                    sns.topics.publish(A, R, topic + "x", "hi")
                assert err.value.code == "NotFound"

        asyncio.run(scenario())


def test_http_post_to_a_closed_port_is_a_transport_error() -> None:
    import socket

    from squall.services.sns import httpclient

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(OSError):
        asyncio.run(httpclient.post(f"http://127.0.0.1:{port}/x", [], b"{}", limit_s=5))


def test_signing_key_is_made_once_and_kept(tmp_path: Path) -> None:
    from squall.services.sns.signing import Signer

    first = Signer(tmp_path / "sns")
    assert not (tmp_path / "sns").exists()  # nothing until first use
    doc = {"Type": "Notification", "MessageId": "m", "TopicArn": "t", "Message": "x", "Timestamp": "ts"}
    signature = first.sign({**doc, "SignatureVersion": "2"})
    again = Signer(tmp_path / "sns")
    assert again.certificate_pem == first.certificate_pem
    assert again.sign({**doc, "SignatureVersion": "2"}) == signature  # PKCS#1 v1.5 is deterministic
    assert (tmp_path / "sns" / "signing-key.pem").stat().st_mode & 0o777 == 0o600
