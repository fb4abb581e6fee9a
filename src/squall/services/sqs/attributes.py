"""Queue attributes: defaults, AWS's ranges and messages, which may be set where.

Attributes travel as strings (as on the wire). `settable_defaults` gives a new
queue's settable attributes; `check_attributes` validates a CreateQueue or
SetQueueAttributes map and returns it normalised. Redrive policies are checked
against other queues by the caller (`redrive.py`), not here.
"""

from __future__ import annotations

import json

from squall.protocol.errors import ServiceError
from squall.services.sqs.errors import invalid_attribute_name, invalid_attribute_value

#: name -> (min, max) for the integer attributes.
INT_RANGES = {
    "DelaySeconds": (0, 900),
    "MaximumMessageSize": (1024, 1_048_576),
    "MessageRetentionPeriod": (60, 1_209_600),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "VisibilityTimeout": (0, 43_200),
    "KmsDataKeyReusePeriodSeconds": (60, 86_400),
}
DEFAULTS = {
    "DelaySeconds": "0",
    "MaximumMessageSize": "1048576",
    "MessageRetentionPeriod": "345600",
    "ReceiveMessageWaitTimeSeconds": "0",
    "VisibilityTimeout": "30",
    "SqsManagedSseEnabled": "true",
}
FIFO_DEFAULTS = {
    "FifoQueue": "true",
    "ContentBasedDeduplication": "false",
    "DeduplicationScope": "queue",
    "FifoThroughputLimit": "perQueue",
}
FIFO_ONLY = frozenset(("ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"))
BOOLEANS = frozenset(("FifoQueue", "ContentBasedDeduplication", "SqsManagedSseEnabled"))
OPTIONAL = frozenset(
    ("Policy", "RedrivePolicy", "RedriveAllowPolicy", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds")
)
SETTABLE = frozenset(DEFAULTS) | frozenset(FIFO_DEFAULTS) | OPTIONAL
COMPUTED = frozenset(
    (
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
        "CreatedTimestamp",
        "LastModifiedTimestamp",
        "QueueArn",
    )
)
ENUMS = {
    "DeduplicationScope": ("messageGroup", "queue"),
    "FifoThroughputLimit": ("perQueue", "perMessageGroupId"),
}


def settable_defaults(fifo: bool) -> dict[str, str]:
    return {**DEFAULTS, **(FIFO_DEFAULTS if fifo else {})}


def _invalid(name: str) -> ServiceError:
    return invalid_attribute_value(f"Invalid value for the parameter {name}.")


def check_attributes(attrs: dict[str, str], *, fifo: bool, creating: bool) -> dict[str, str]:
    """Validate a CreateQueue/SetQueueAttributes map; the normalised values."""
    out: dict[str, str] = {}
    for name, value in attrs.items():
        if name not in SETTABLE or (name in FIFO_ONLY and not fifo):
            raise invalid_attribute_name(f"Unknown Attribute {name}.")
        if name == "FifoQueue" and not creating:
            raise invalid_attribute_name(f"Unknown Attribute {name}.")
        if name in INT_RANGES:
            low, high = INT_RANGES[name]
            try:
                number = int(value)
            except ValueError:
                raise _invalid(name) from None
            if not low <= number <= high:
                raise _invalid(name)
            value = str(number)
        elif name in BOOLEANS:
            if value.lower() not in ("true", "false"):
                raise _invalid(name)
            value = value.lower()
        elif name in ENUMS and value not in ENUMS[name]:
            raise _invalid(name)
        elif name in ("Policy", "RedrivePolicy", "RedriveAllowPolicy") and value:
            try:
                parsed = json.loads(value)
            except ValueError:
                raise _invalid(name) from None
            if not isinstance(parsed, dict):
                raise _invalid(name)
            if name == "RedriveAllowPolicy":
                _check_redrive_allow(parsed)
        out[name] = value
    return out


def _check_redrive_allow(policy: dict[str, object]) -> None:
    permission = policy.get("redrivePermission")
    sources = policy.get("sourceQueueArns")
    if permission not in ("allowAll", "denyAll", "byQueue"):
        raise _invalid("RedriveAllowPolicy")
    if permission == "byQueue":
        if not isinstance(sources, list) or not 1 <= len(sources) <= 10:
            raise _invalid("RedriveAllowPolicy")
    elif sources is not None:
        raise _invalid("RedriveAllowPolicy")
