"""The in-process client and the operation table: a call between services goes through the
same table, validation, authorization and error model as a wire request, with its principal."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from squall.protocol.errors import ServiceError
from squall.services.base import ServiceProvider
from squall.services.calls import Calls
from squall.services.context import Principal, PrincipalKind, RequestContext
from squall.services.operations import Operation, operation
from squall.services.ports import queue_url
from tests.inprocess import composed

A, R = "000000000000", "us-east-1"
TOPIC = f"arn:aws:sns:{R}:{A}:t"


class Recording:
    """An authorizer that records what it is asked and refuses one principal kind."""

    def __init__(self, refuse: PrincipalKind | None = None) -> None:
        self.asked: list[tuple[Principal, str, str]] = []
        self.refuse = refuse

    def authorize(self, ctx: RequestContext, op: Operation, params: dict[str, Any]) -> None:
        self.asked.append((ctx.principal, op.service, op.action))
        if ctx.principal.kind is self.refuse:
            raise ServiceError("AccessDenied", f"{ctx.principal.caller_arn} may not {op.action}", 403)


def test_a_call_is_validated_authorized_and_dispatched_with_its_principal(tmp_path: Path) -> None:
    with composed(tmp_path) as services:
        authorizer = Recording()
        services.registry.authorizer = authorizer
        calls = services.calls
        root = Principal.root(A)
        sns = Principal.for_service("sns.amazonaws.com", A, source_arn=TOPIC)

        async def scenario() -> None:
            url = (await calls.call(root, "sqs", "CreateQueue", {"QueueName": "q"}, region=R))["QueueUrl"]
            arn = f"arn:aws:sqs:{R}:{A}:q"
            sent = await calls.call(
                sns, "sqs", "SendMessage", {"QueueUrl": queue_url(arn), "MessageBody": "hi"}, region=R
            )
            assert (
                len(sent["MessageId"]) == 36
                and sent["MD5OfMessageBody"] == "49f68a5c8493ec2c0bf489821c21fc3b"
            )
            got = await calls.call(root, "sqs", "ReceiveMessage", {"QueueUrl": url}, region=R)
            assert [m["Body"] for m in got["Messages"]] == ["hi"]

            # the model's validation, as on the wire: a missing required member, a wrong type
            with pytest.raises(ServiceError) as err:
                await calls.call(sns, "sqs", "SendMessage", {"QueueUrl": url}, region=R)
            assert (err.value.code, err.value.status) == ("ValidationException", 400)
            assert "messageBody" in err.value.message
            with pytest.raises(ServiceError) as err:
                await calls.call(root, "sqs", "SendMessage", {"QueueUrl": url, "MessageBody": 7}, region=R)
            assert err.value.code == "ValidationException"

            # the service's own errors come through unchanged
            with pytest.raises(ServiceError) as err:
                await calls.call(sns, "sns", "Publish", {"TopicArn": TOPIC, "Message": "x"}, region=R)
            assert err.value.code == "NotFound"

            # a service Squall does not serve: NotImplemented, as the gateway answers
            with pytest.raises(ServiceError) as err:
                await calls.call(root, "kinesis", "ListStreams", {}, region=R)
            assert err.value.status == 501

        asyncio.run(scenario())
        asked = [(p.kind, svc, action) for p, svc, action in authorizer.asked]
        assert asked[:3] == [
            (PrincipalKind.ROOT, "sqs", "sqs:CreateQueue"),
            (PrincipalKind.SERVICE, "sqs", "sqs:SendMessage"),
            (PrincipalKind.ROOT, "sqs", "sqs:ReceiveMessage"),
        ]
        # invalid input never reaches the authorizer or the handler
        assert (PrincipalKind.SERVICE, "sns", "sns:Publish") in asked and len(asked) == 4


def test_the_authorizer_refuses_internal_calls_like_wire_calls(tmp_path: Path) -> None:
    with composed(tmp_path) as services:
        services.registry.authorizer = Recording(refuse=PrincipalKind.SERVICE)
        calls: Calls = services.calls
        sns = Principal.for_service("sns.amazonaws.com", A, source_arn=TOPIC)

        async def scenario() -> None:
            await calls.call(Principal.root(A), "sqs", "CreateQueue", {"QueueName": "q"}, region=R)
            with pytest.raises(ServiceError) as err:
                params = {"QueueUrl": queue_url(f"arn:aws:sqs:{R}:{A}:q"), "MessageBody": "x"}
                await calls.call(sns, "sqs", "SendMessage", params, region=R)
            assert err.value.code == "AccessDenied" and "sns.amazonaws.com" in err.value.message
            got = await calls.call(
                Principal.root(A), "sqs", "GetQueueAttributes",
                {"QueueUrl": queue_url(f"arn:aws:sqs:{R}:{A}:q"), "AttributeNames": ["All"]}, region=R,
            )  # fmt: skip
            assert got["Attributes"]["ApproximateNumberOfMessages"] == "0"  # nothing was sent

        asyncio.run(scenario())


def test_every_served_operation_is_in_a_table_with_its_iam_action(tmp_path: Path) -> None:
    with composed(tmp_path) as services:
        tables = {p.service: p.table for p in services.registry}
    assert set(tables) == {"sts", "logs", "sqs", "dynamodb", "dynamodbstreams", "lambda", "sns", "s3"}
    assert tables["lambda"]["Invoke"].action == "lambda:InvokeFunction"
    assert tables["dynamodbstreams"]["GetRecords"].action == "dynamodb:GetRecords"
    assert tables["sqs"]["SendMessage"].where.endswith("MessagesApi.send_message")
    assert all(op.action.startswith(("sts:", "logs:", "sqs:", "dynamodb:", "lambda:", "sns:", "s3:"))
               for t in tables.values() for op in t.values())  # fmt: skip
    assert sum(len(t) for t in tables.values()) >= 173  # what the name-derived lookup found before the table


def test_the_table_refuses_unknown_and_duplicate_operations() -> None:
    class Unknown:
        @operation("SendMesage")
        def typo(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
            return {}

    class Part:
        @operation("ListQueues")
        def list_queues(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
            return {}

    class Sqs(ServiceProvider):
        service = "sqs"

    with pytest.raises(TypeError, match="no operation SendMesage"):
        Sqs(Unknown())
    with pytest.raises(TypeError, match="more than once"):
        Sqs(Part(), Part())
    assert set(Sqs(Part()).table) == {"ListQueues"}
