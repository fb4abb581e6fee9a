"""Whether a mapping's function may read its event source (CreateEventSourceMapping,
UpdateEventSourceMapping): an SQS queue must exist ("Error occurred while ReceiveMessage. SQS
Error Code: AWS.SimpleQueueService.NonExistentQueue. ...") and its visibility timeout must be at
least the function's timeout ("Queue visibility timeout: X seconds is less than Function timeout:
Y seconds"), in any account; and a source of another account needs that account's grant.

A mapping reads its source as the function's execution role (`Invoker.acting_principal`), so a
source of another account needs that account's grant: an SQS queue whose `Policy` allows the
role (or its account) `sqs:ReceiveMessage`; a DynamoDB stream cannot be granted (Squall stores
no DynamoDB resource policies), so another account's stream is always refused. Refusals are
Lambda's `InvalidParameterValueException` with AWS's messages. The pollers check again on every
batch (SQS: `ports.FeedQueue.receive`; streams: when a poller starts), so a grant withdrawn later
stops the consumption.
"""

from __future__ import annotations

from collections.abc import Callable

from squall.protocol.errors import ServiceError
from squall.services.context import Principal
from squall.services.lambda_ import esm_rules as rules
from squall.services.lambda_.attachment_util import invalid
from squall.services.lambda_.names import FunctionRef
from squall.services.ports import QueueFeed


def source_account(source_arn: str) -> str:
    parts = source_arn.split(":")
    return parts[4] if len(parts) > 4 else ""


def stream_refused(source_arn: str) -> ServiceError:
    return invalid(
        f"Cannot access stream {source_arn}. Please ensure the role can perform the GetRecords, "
        "GetShardIterator, DescribeStream, and ListStreams Actions on your stream in IAM."
    )


def queue_missing(e: ServiceError) -> ServiceError:
    # What AWS answers for a queue that does not exist (the SQS error of the ReceiveMessage it
    # tries, wrapped; recorded by LocalStack's snapshot of CreateEventSourceMapping against AWS).
    return invalid(
        f"Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. "
        f"SQS Error Message: {e.message}"
    )


def visibility_too_short(visibility: int, timeout: int) -> ServiceError:
    # AWS: "Invalid request provided: Queue visibility timeout: 30 seconds is less than Function
    # timeout: 300 seconds" (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html:
    # the queue's visibility timeout must be at least the function's timeout).
    return invalid(
        f"Queue visibility timeout: {visibility} seconds is less than Function timeout: {timeout} seconds"
    )


class SourceAccess:
    def __init__(
        self,
        acting: Callable[[FunctionRef, str], Principal],
        queues: QueueFeed | None,
        timeout_of: Callable[[FunctionRef], int] | None = None,
    ) -> None:
        self._acting = acting
        self._queues = queues
        self._timeout_of = timeout_of

    def check(self, function: FunctionRef, source_arn: str, kind: str, mapping_arn: str) -> None:
        """Return if `function`'s mapping may read `source_arn`; InvalidParameterValueException.

        An SQS queue must exist and its visibility timeout must cover the function's timeout
        (any account); another account's queue must grant the role; another account's stream
        is refused."""
        own = source_account(source_arn) in ("", function.account_id)
        if kind in (rules.SQS, rules.SQS_FIFO):
            if self._queues is None:
                return
            principal = self._acting(function, mapping_arn)
            try:
                queue = self._queues.open(principal, source_arn)
            except ServiceError as e:
                if e.status == 403 and not own:
                    raise invalid(
                        "The provided execution role does not have permissions to call ReceiveMessage on SQS"
                    ) from None
                if e.code in ("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"):
                    raise queue_missing(e) from None
                raise
            if self._timeout_of is not None:
                timeout = self._timeout_of(function)
                if queue.visibility_timeout < timeout:
                    raise visibility_too_short(queue.visibility_timeout, timeout)
            return
        if own:
            return
        raise stream_refused(source_arn)
