"""SQS errors as AWS sends them over the JSON protocol.

SQS is `awsQueryCompatible`: besides the JSON `__type`, AWS sends the legacy
query error code in `x-amzn-query-error: <code>;Sender`, and botocore reports
that code as `Error.Code` (e.g. `AWS.SimpleQueueService.NonExistentQueue`).
The table maps the modelled error name to that legacy code.
"""

from __future__ import annotations

from squall.protocol.errors import ServiceError

QUERY_CODES = {
    "QueueDoesNotExist": "AWS.SimpleQueueService.NonExistentQueue",
    "QueueNameExists": "QueueAlreadyExists",
    "QueueDeletedRecently": "AWS.SimpleQueueService.QueueDeletedRecently",
    "PurgeQueueInProgress": "AWS.SimpleQueueService.PurgeQueueInProgress",
    "BatchEntryIdsNotDistinct": "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    "BatchRequestTooLong": "AWS.SimpleQueueService.BatchRequestTooLong",
    "EmptyBatchRequest": "AWS.SimpleQueueService.EmptyBatchRequest",
    "InvalidBatchEntryId": "AWS.SimpleQueueService.InvalidBatchEntryId",
    "TooManyEntriesInBatchRequest": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    "MessageNotInflight": "AWS.SimpleQueueService.MessageNotInflight",
    "UnsupportedOperation": "AWS.SimpleQueueService.UnsupportedOperation",
    "InvalidParameterValueException": "InvalidParameterValue",
}


def sqs_error(code: str, message: str, status: int = 400) -> ServiceError:
    query = QUERY_CODES.get(code, code)
    return ServiceError(code, message, status, headers={"x-amzn-query-error": f"{query};Sender"})


def queue_does_not_exist() -> ServiceError:
    return sqs_error("QueueDoesNotExist", "The specified queue does not exist.")


def invalid_parameter(message: str) -> ServiceError:
    return sqs_error("InvalidParameterValue", message)


def invalid_value(name: str, value: object, reason: str) -> ServiceError:
    return invalid_parameter(f"Value {value} for parameter {name} is invalid. Reason: {reason}")


def invalid_attribute_value(message: str) -> ServiceError:
    return sqs_error("InvalidAttributeValue", message)


def invalid_attribute_name(message: str) -> ServiceError:
    return sqs_error("InvalidAttributeName", message)


def receipt_handle_invalid(handle: str) -> ServiceError:
    return sqs_error(
        "ReceiptHandleIsInvalid", f'The input receipt handle "{handle}" is not a valid receipt handle.'
    )
