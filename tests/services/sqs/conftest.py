from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def sqs(server: Any) -> Any:
    return server.client("sqs")


@pytest.fixture
def new_queue(sqs: Any) -> Callable[..., str]:
    """Create a uniquely named queue; its URL."""

    def make(prefix: str = "q", fifo: bool = False, **attributes: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}" + (".fifo" if fifo else "")
        if fifo:
            attributes.setdefault("FifoQueue", "true")
        return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])

    return make


def arn_of(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def error_code(exc: Any) -> str:
    return str(exc.value.response["Error"]["Code"])
