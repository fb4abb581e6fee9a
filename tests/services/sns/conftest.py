from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def sns(server: Any) -> Any:
    return server.client("sns")


@pytest.fixture
def sqs(server: Any) -> Any:
    return server.client("sqs")


@pytest.fixture
def new_topic(sns: Any) -> Callable[..., str]:
    def make(prefix: str = "t", fifo: bool = False, **attributes: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}" + (".fifo" if fifo else "")
        if fifo:
            attributes.setdefault("FifoTopic", "true")
        return str(sns.create_topic(Name=name, Attributes=attributes)["TopicArn"])

    return make


@pytest.fixture
def new_queue(sqs: Any) -> Callable[..., tuple[str, str]]:
    """A uniquely named queue: (url, arn)."""

    def make(fifo: bool = False, **attributes: str) -> tuple[str, str]:
        name = f"q-{uuid.uuid4().hex[:12]}" + (".fifo" if fifo else "")
        if fifo:
            attributes.setdefault("FifoQueue", "true")
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    return make


def error_code(exc: Any) -> str:
    return str(exc.value.response["Error"]["Code"])


def error_message(exc: Any) -> str:
    return str(exc.value.response["Error"]["Message"])
