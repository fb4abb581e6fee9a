"""Logs, metrics, traces and billing records. See README.md in this folder."""

from squall.observability.lambda_report import Report, billed_ms, gb_seconds, invocation_events, tail
from squall.observability.logs import (
    AlreadyExists,
    BadToken,
    GroupNotFound,
    LogsError,
    LogStore,
    StreamNotFound,
)
from squall.observability.metrics import Datapoint, Invocation, Metrics, Stat
from squall.observability.telemetry import Telemetry
from squall.observability.writer import LogWriter

__all__ = [
    "AlreadyExists",
    "BadToken",
    "Datapoint",
    "GroupNotFound",
    "Invocation",
    "LogStore",
    "LogWriter",
    "LogsError",
    "Metrics",
    "Report",
    "Stat",
    "StreamNotFound",
    "Telemetry",
    "billed_ms",
    "gb_seconds",
    "invocation_events",
    "tail",
]
