"""The in-process interfaces one service offers the others, declared once.

The composition root (server.py) hands each service the objects it may reach
(SNS's `SnsTopics`, Lambda's `LambdaEvents`, ...); the receiving service types
them with these Protocols, so no service imports another. Errors are the
offering service's `ServiceError`s.
"""

from __future__ import annotations

from typing import Any, Protocol


class TopicPublisher(Protocol):
    """SNS's in-process publish (`SnsTopics.publish`): the message id."""

    def publish(
        self,
        account: str,
        region: str,
        topic_arn: str,
        message: str,
        attributes: dict[str, Any] | None = None,
        subject: str | None = None,
        group: str | None = None,
        dedup: str | None = None,
    ) -> Any: ...


class FunctionSubmitter(Protocol):
    """Lambda's in-process door for events (`LambdaEvents.submit`): commits one asynchronous
    invocation, checked against the function's resource policy for `principal`/`source_*`."""

    def submit(
        self,
        account_id: str,
        region: str,
        function: str,
        payload: bytes,
        *,
        principal: str | None = None,
        source_arn: str | None = None,
        source_account: str | None = None,
    ) -> str: ...
