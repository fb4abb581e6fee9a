"""Whether a mapping's function may read its event source when the source belongs to another
account (CreateEventSourceMapping, UpdateEventSourceMapping).

A mapping reads its source as the function's execution role (`Invoker.acting_principal`), so a
source of another account needs that account's grant: an SQS queue whose `Policy` allows the
role (or its account) `sqs:ReceiveMessage`; a DynamoDB stream cannot be granted (Squall stores
no DynamoDB resource policies), so another account's stream is always refused. A source of the
mapping's own account is not looked at here (no change to the same-account path). Refusals are
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


class SourceAccess:
    def __init__(self, acting: Callable[[FunctionRef, str], Principal], queues: QueueFeed | None) -> None:
        self._acting = acting
        self._queues = queues

    def check(self, function: FunctionRef, source_arn: str, kind: str, mapping_arn: str) -> None:
        """Return if `function`'s mapping may read `source_arn`; InvalidParameterValueException."""
        if source_account(source_arn) in ("", function.account_id):
            return
        if kind in (rules.SQS, rules.SQS_FIFO):
            if self._queues is None:
                return
            principal = self._acting(function, mapping_arn)
            try:
                self._queues.open(principal, source_arn)
            except ServiceError as e:
                if e.status == 403:
                    raise invalid(
                        "The provided execution role does not have permissions to call ReceiveMessage on SQS"
                    ) from None
                # (a queue that does not exist: accepted as for the own account, the poller waits)
            return
        raise stream_refused(source_arn)
