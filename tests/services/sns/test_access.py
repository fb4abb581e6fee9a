"""Cross-account calls: refused by the default topic policy, allowed by a statement naming the account."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import RunningServer, start_server
from tests.services.sns.conftest import error_code, error_message

OTHER = "111111111111"


@pytest.fixture(scope="module")
def two_accounts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = start_server(
        tmp_path_factory.mktemp("sns-access") / "data",
        env={"SQUALL_ROOT_KEYS": f"test:test:000000000000,other:other:{OTHER}"},
    )
    yield srv
    srv.stop()


def test_cross_account_publish(two_accounts: RunningServer, tmp_path: Path) -> None:
    owner = two_accounts.client("sns")
    other = two_accounts.client("sns", access_key="other", secret="other")
    topic = owner.create_topic(Name="shared")["TopicArn"]
    with pytest.raises(ClientError) as exc:
        other.publish(TopicArn=topic, Message="x")
    assert error_code(exc) == "AuthorizationError"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert f"arn:aws:iam::{OTHER}:root is not authorized to perform: SNS:Publish" in error_message(exc)
    with pytest.raises(ClientError):
        other.get_topic_attributes(TopicArn=topic)
    policy: dict[str, Any] = json.loads(owner.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
    policy["Statement"].append(
        {"Effect": "Allow", "Principal": {"AWS": OTHER}, "Action": "sns:Publish", "Resource": topic}
    )
    owner.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(policy))
    assert other.publish(TopicArn=topic, Message="x")["MessageId"]
    with pytest.raises(ClientError) as exc:
        other.subscribe(TopicArn=topic, Protocol="email", Endpoint="a@example.com")
    assert error_code(exc) == "AuthorizationError"
    owner.add_permission(TopicArn=topic, Label="sub", AWSAccountId=[OTHER], ActionName=["Subscribe"])
    with pytest.raises(ClientError) as exc:
        owner.add_permission(TopicArn=topic, Label="sub", AWSAccountId=[OTHER], ActionName=["Subscribe"])
    assert error_code(exc) == "InvalidParameter"
    other.subscribe(TopicArn=topic, Protocol="email", Endpoint="a@example.com")
    owner.remove_permission(TopicArn=topic, Label="sub")
    with pytest.raises(ClientError):
        other.subscribe(TopicArn=topic, Protocol="email", Endpoint="b@example.com")
    with pytest.raises(ClientError) as exc:
        other.delete_topic(TopicArn=topic)
    assert error_code(exc) == "AuthorizationError"
