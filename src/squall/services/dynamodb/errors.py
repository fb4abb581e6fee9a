"""The DynamoDB errors Squall raises, with AWS's codes and messages."""

from __future__ import annotations

from typing import Any

from squall.protocol.errors import ServiceError


def validation(message: str) -> ServiceError:
    return ServiceError("ValidationException", message, 400)


def not_found(message: str | None = None) -> ServiceError:
    return ServiceError("ResourceNotFoundException", message or "Requested resource not found", 400)


def table_not_found(message: str) -> ServiceError:
    """The backup operations' error for a missing table (DescribeContinuousBackups...)."""
    return ServiceError("TableNotFoundException", message, 400)


def in_use(message: str) -> ServiceError:
    return ServiceError("ResourceInUseException", message, 400)


def conditional_failed(item: dict[str, Any] | None = None) -> ServiceError:
    fields = {"Item": item} if item is not None else None
    return ServiceError(
        "ConditionalCheckFailedException", "The conditional request failed", 400, fields=fields
    )


class ConditionFailed(Exception):
    """A ConditionExpression evaluated to false; `item` is the item it was checked on."""

    def __init__(self, item: dict[str, Any] | None) -> None:
        super().__init__("The conditional request failed")
        self.item = item


class OtherAccountTable(ServiceError):
    """A table named by the ARN of another account's table. Squall stores no DynamoDB resource
    policies, so nothing grants it: `DynamoDBProvider.run` answers AWS's AccessDeniedException
    with the caller and the operation's action."""

    def __init__(self, arn: str) -> None:
        super().__init__("AccessDeniedException", arn, 400)
        self.arn = arn


def access_denied(caller_arn: str, action: str, resource: str) -> ServiceError:
    return ServiceError(
        "AccessDeniedException",
        f"User: {caller_arn} is not authorized to perform: {action} on resource: {resource} "
        f"because no resource-based policy allows the {action} action",
        400,
    )
