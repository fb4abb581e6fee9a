"""Regular expressions from clients cannot freeze the server (ReDoS).

A FilterLogEvents pattern built to backtrack catastrophically once ran Python `re` on the event
loop: every service stopped. Patterns now run on RE2 (linear time) with AWS's syntax limits, on
a thread, bounded per call; S3 CORS origins are matched without backtracking and rules with
more than one `*` are refused at PutBucketCors as AWS does."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from tests.conftest import RunningServer

#: A message the patterns below backtrack on (PutLogEvents allows up to 256 KB per event).
MESSAGE = "L" * 100_000


def _log_group(server: RunningServer) -> str:
    logs = server.client("logs")
    group = f"/redos/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": now + i, "message": MESSAGE} for i in range(8)],
    )
    return group


def _filter_while_serving(server: RunningServer, group: str, pattern: str) -> tuple[Any, float, list[float]]:
    """Run FilterLogEvents(pattern) on a thread; meanwhile time S3 calls. Returns (outcome, its
    duration, the S3 calls' durations)."""
    logs = server.client("logs", read_timeout=15)
    outcome: list[Any] = []

    def hostile() -> None:
        began = time.monotonic()
        try:
            outcome.append(logs.filter_log_events(logGroupName=group, filterPattern=pattern))
        except (ClientError, ReadTimeoutError) as exc:
            outcome.append(exc)
        outcome.append(time.monotonic() - began)

    s3 = server.client("s3", read_timeout=5)
    thread = threading.Thread(target=hostile)
    thread.start()
    latencies = []
    while thread.is_alive() or not latencies:
        began = time.monotonic()
        try:
            s3.list_buckets()
        except ReadTimeoutError:
            latencies.append(float("inf"))
            break
        latencies.append(time.monotonic() - began)
    thread.join(30)
    assert not thread.is_alive(), "FilterLogEvents did not answer"
    return outcome[0], outcome[1], latencies


def test_grouping_regex_is_refused_as_aws_does(server: RunningServer) -> None:
    group = _log_group(server)
    result, took, latencies = _filter_while_serving(server, group, "%(L+)+x%")
    assert isinstance(result, ClientError), result
    assert result.response["Error"]["Code"] == "InvalidParameterException"
    assert "Invalid character(s) in term" in result.response["Error"]["Message"]
    assert took < 2 and max(latencies) < 1


@pytest.mark.parametrize("pattern", ["%L*L*L*L*L*L*L*L*x%", "%L+L+L+L+L+L+L+L+L+x%"])
def test_backtracking_regex_answers_while_other_services_serve(server: RunningServer, pattern: str) -> None:
    group = _log_group(server)
    result, took, latencies = _filter_while_serving(server, group, pattern)
    assert isinstance(result, dict), result
    assert result["events"] == []
    assert took < 5, took
    assert max(latencies) < 1, latencies


def test_regex_still_matches(server: RunningServer) -> None:
    logs = server.client("logs")
    group = _log_group(server)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": int(time.time() * 1000) + 100, "message": "END RequestId: 1a-2b"}],
    )
    found = logs.filter_log_events(logGroupName=group, filterPattern="%RequestId: [0-9a-f-]+%")
    assert [e["message"] for e in found["events"]] == ["END RequestId: 1a-2b"]


# --- S3 CORS ------------------------------------------------------------------------------


def _cors(server: RunningServer, origins: list[str]) -> str:
    s3 = server.client("s3")
    bucket = f"cors-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    rules = {"CORSRules": [{"AllowedOrigins": origins, "AllowedMethods": ["GET"], "AllowedHeaders": ["*"]}]}
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=rules)
    return bucket


def test_put_bucket_cors_refuses_many_wildcards(server: RunningServer) -> None:
    s3 = server.client("s3")
    bucket = f"cors-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    hostile = "*a" * 40 + "*"
    for rule in (
        {"AllowedOrigins": [hostile], "AllowedMethods": ["GET"]},
        {"AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET"], "AllowedHeaders": ["x-*-*"]},
    ):
        with pytest.raises(ClientError) as info:
            s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule]})
        error = info.value.response["Error"]
        assert (error["Code"], info.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (
            "InvalidRequest",
            400,
        )
        assert "can not have more than one wildcard." in error["Message"]
    with pytest.raises(ClientError) as info:
        s3.get_bucket_cors(Bucket=bucket)
    assert info.value.response["Error"]["Code"] == "NoSuchCORSConfiguration"


def test_unauthenticated_preflight_with_a_long_origin_answers_at_once(server: RunningServer) -> None:
    import http.client

    bucket = _cors(server, ["https://*.example.com"])
    for origin, status in (("https://" + "a." * 20_000 + "example.org", 403), ("https://x.example.com", 200)):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        began = time.monotonic()
        conn.request(
            "OPTIONS", f"/{bucket}/k", headers={"Origin": origin, "Access-Control-Request-Method": "GET"}
        )
        response = conn.getresponse()
        response.read()
        conn.close()
        assert response.status == status
        assert time.monotonic() - began < 1


def test_rules_stored_before_with_many_wildcards_match_in_linear_time() -> None:
    """A rule stored before PutBucketCors refused several `*` (an old data directory) is matched
    without backtracking: this glob against this origin took exponential time with a regex."""
    from squall.services.s3.cors import find_rule

    rules = [{"AllowedOrigins": ["*a" * 30 + "*b"], "AllowedMethods": ["GET"]}]
    began = time.monotonic()
    assert find_rule(rules, "a" * 100_000, "GET") is None
    assert find_rule(rules, "a" * 30 + "b", "GET") is not None
    assert time.monotonic() - began < 0.1


# --- SNS filter policies / EventBridge patterns (the shared eventpattern matcher) ------------


def test_sns_wildcard_filter_policy_cannot_freeze_the_server(server: RunningServer) -> None:
    """A tenant's filter policy `*a*a*a*a*a*a*b` against a long attribute value backtracked for
    minutes on the event loop; RE2 matches it in linear time."""
    sns, sqs = server.client("sns"), server.client("sqs")
    topic = sns.create_topic(Name=f"redos-{uuid.uuid4().hex[:8]}")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"redos-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={
            "FilterPolicy": '{"k": [{"wildcard": "*a*a*a*a*a*a*b"}]}',
            "RawMessageDelivery": "true",
        },
    )
    publisher = server.client("sns", read_timeout=10)
    value = "a" * 50_000
    result: list[Any] = []

    def hostile() -> None:
        began = time.monotonic()
        for _ in range(3):
            publisher.publish(
                TopicArn=topic,
                Message="m",
                MessageAttributes={"k": {"DataType": "String", "StringValue": value}},
            )
        result.append(time.monotonic() - began)

    s3 = server.client("s3", read_timeout=5)
    thread = threading.Thread(target=hostile)
    thread.start()
    latencies = []
    while thread.is_alive() or len(latencies) < 3:
        began = time.monotonic()
        try:
            s3.list_buckets()
        except ReadTimeoutError:
            latencies.append(float("inf"))
            break
        latencies.append(time.monotonic() - began)
    thread.join(30)
    assert result and result[0] < 5, result
    assert max(latencies) < 1, latencies
    # The filter still works: a matching value is delivered, the hostile ones were not.
    sns.publish(
        TopicArn=topic,
        Message="hit",
        MessageAttributes={"k": {"DataType": "String", "StringValue": "xaaaaaab"}},
    )
    got = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["hit"]


# --- model `pattern` constraints (input validation of every served service) ------------------


def test_backtracking_model_pattern_cannot_freeze_the_server(server: RunningServer) -> None:
    """EventBridge's AuthHeaderParameters pattern `^[ \\t]*[^\\x00-\\x1F:\\x7F]+([ \\t]+[^...]+)*...`
    backtracks exponentially on a value of spaces ending in a control character; validation is
    linear (RE2), so the signed caller gets its ValidationException at once and nobody waits."""
    events = server.client("events", read_timeout=15)
    hostile = "a" + " " * 60 + "\x01"
    outcome: list[Any] = []

    def call() -> None:
        began = time.monotonic()
        try:
            events.create_connection(
                Name="redos",
                AuthorizationType="API_KEY",
                AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": hostile, "ApiKeyValue": "v"}},
            )
        except (ClientError, ReadTimeoutError) as exc:
            outcome.append(exc)
        outcome.append(time.monotonic() - began)

    thread = threading.Thread(target=call)
    thread.start()
    s3 = server.client("s3", read_timeout=5)
    latencies = []
    while thread.is_alive() or not latencies:
        began = time.monotonic()
        try:
            s3.list_buckets()
        except ReadTimeoutError:
            latencies.append(float("inf"))
            break
        latencies.append(time.monotonic() - began)
    thread.join(30)
    error, took = outcome
    assert isinstance(error, ClientError), error
    assert error.response["Error"]["Code"] == "ValidationException"
    assert "Member must satisfy regular expression pattern" in error.response["Error"]["Message"]
    assert took < 2 and max(latencies) < 1, (took, latencies)
