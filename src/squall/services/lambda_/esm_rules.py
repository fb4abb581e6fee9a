"""Event source mapping validation: which source an ARN names, and AWS's per-source rules."""

from __future__ import annotations

import re
from typing import Any

import orjson

from squall.eventpattern import PatternError, compile_pattern
from squall.services.lambda_.attachment_util import invalid
from squall.services.lambda_.invoke_config import check_destination

_SQS = re.compile(r"^arn:aws[a-zA-Z-]*:sqs:[a-z]{2}(?:-gov)?-[a-z]+-\d:\d{12}:[a-zA-Z0-9_-]{1,80}(\.fifo)?$")
_KINESIS = re.compile(
    r"^arn:aws[a-zA-Z-]*:kinesis:[a-z]{2}(?:-gov)?-[a-z]+-\d:\d{12}:stream/[a-zA-Z0-9_.-]{1,128}"
    r"(/consumer/[a-zA-Z0-9_.-]{1,128}:\d+)?$"
)
_DYNAMODB = re.compile(
    r"^arn:aws[a-zA-Z-]*:dynamodb:[a-z]{2}(?:-gov)?-[a-z]+-\d:\d{12}:table/[a-zA-Z0-9_.-]{3,255}/stream/[^/\s]+$"
)

SQS, SQS_FIFO, KINESIS, DYNAMODB = "sqs", "sqs-fifo", "kinesis", "dynamodb"
STREAMS = (KINESIS, DYNAMODB)
#: source -> (default BatchSize, maximum BatchSize)
BATCH_SIZES = {SQS: (10, 10_000), SQS_FIFO: (10, 10), KINESIS: (100, 10_000), DYNAMODB: (100, 10_000)}
#: parameters only stream sources accept
STREAM_ONLY = (
    "ParallelizationFactor",
    "BisectBatchOnFunctionError",
    "MaximumRecordAgeInSeconds",
    "MaximumRetryAttempts",
    "TumblingWindowInSeconds",
    "DestinationConfig",
    "StartingPositionTimestamp",
)
#: the defaults a stream mapping reports
STREAM_DEFAULTS: dict[str, Any] = {
    "ParallelizationFactor": 1,
    "BisectBatchOnFunctionError": False,
    "MaximumRecordAgeInSeconds": -1,
    "MaximumRetryAttempts": -1,
    "TumblingWindowInSeconds": 0,
    "DestinationConfig": {"OnFailure": {}},
}


def source_kind(arn: str | None) -> str:
    if not arn:
        raise invalid("Unrecognized event source.")
    if _SQS.match(arn):
        return SQS_FIFO if arn.endswith(".fifo") else SQS
    if _KINESIS.match(arn):
        return KINESIS
    if _DYNAMODB.match(arn):
        return DYNAMODB
    service = arn.split(":")[2] if arn.count(":") >= 2 else ""
    if service in ("sqs", "kinesis", "dynamodb"):
        raise invalid(f"Invalid event source ARN for {service}: {arn}")
    raise invalid("Unrecognized event source, must be kinesis, dynamodb stream or sqs.")


def check(kind: str, cfg: dict[str, Any], given: dict[str, Any], *, creating: bool) -> None:
    """Validate the merged configuration `cfg` of a mapping of source `kind`;
    `given` are the parameters of this request."""
    if kind in STREAMS:
        position = cfg.get("StartingPosition")
        if creating and not position:
            raise invalid(
                "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: "
                "Member must not be null."
            )
        if kind == DYNAMODB and position == "AT_TIMESTAMP":
            raise invalid(f"Unsupported starting position for arn type: {cfg['EventSourceArn']}")
        if position == "AT_TIMESTAMP" and cfg.get("StartingPositionTimestamp") is None:
            raise invalid("Need to specify a timestamp when StartingPosition is AT_TIMESTAMP.")
        age = cfg.get("MaximumRecordAgeInSeconds")
        if age is not None and age != -1 and not 60 <= age <= 604800:
            raise invalid("MaximumRecordAgeInSeconds must be -1 (infinite) or between 60 and 604800.")
        if cfg.get("ScalingConfig"):
            raise invalid("Unsupported ScalingConfig parameter for given event source mapping type.")
        dest = cfg.get("DestinationConfig") or {}
        if (dest.get("OnSuccess") or {}).get("Destination"):
            raise invalid("Unsupported DestinationConfig parameter for given event source mapping type.")
        if on_failure := (dest.get("OnFailure") or {}).get("Destination"):
            check_destination(on_failure, "OnFailure")
    else:
        if creating and cfg.get("StartingPosition"):
            raise invalid(f"Unsupported starting position for arn type: {cfg['EventSourceArn']}")
        for name in STREAM_ONLY:
            if given.get(name) is not None:
                raise invalid(f"Unsupported {name} parameter for given event source mapping type.")
    default, maximum = BATCH_SIZES[kind]
    size = cfg.get("BatchSize") or default
    if not 1 <= size <= maximum:
        raise invalid(f"BatchSize must be between 1 and {maximum} for this event source.")
    window = cfg.get("MaximumBatchingWindowInSeconds") or 0
    if kind == SQS_FIFO and window:
        raise invalid(
            "Unsupported MaximumBatchingWindowInSeconds parameter for given event source mapping type."
        )
    if kind == SQS and size > 10 and window == 0:
        raise invalid(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"
        )
    concurrency = (cfg.get("ScalingConfig") or {}).get("MaximumConcurrency")
    if concurrency is not None and not 2 <= concurrency <= 1000:
        raise invalid("MaximumConcurrency must be between 2 and 1000.")
    for f in (cfg.get("FilterCriteria") or {}).get("Filters") or []:
        pattern = f.get("Pattern")
        try:
            ok = isinstance(orjson.loads(pattern or ""), dict)
            if ok:
                compile_pattern(pattern, dialect="lambda")
        except (orjson.JSONDecodeError, PatternError):
            ok = False
        if not ok:
            raise invalid("Invalid filter pattern definition.")
