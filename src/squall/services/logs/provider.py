"""CloudWatch Logs over the durable `LogStore` (observability/): the read API Lambda's logs need
(DescribeLogGroups, DescribeLogStreams, GetLogEvents, FilterLogEvents) and the basic writes
(Create/Delete log group and stream, PutLogEvents, Put/DeleteRetentionPolicy).

Reads flush the background writer first, so what an invocation logged is visible
to the next read (read-your-writes; AWS itself is only eventually consistent).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from squall.observability import AlreadyExists, BadToken, GroupNotFound, LogStore, LogWriter, StreamNotFound
from squall.observability.filter_pattern import PatternError, compile_pattern
from squall.observability.logs import Event
from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext, ServiceProvider
from squall.services.operations import operation

#: The values PutRetentionPolicy accepts (days).
RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)
DEFAULT_PAGE = 50
#: Seconds one FilterLogEvents call may scan before it returns a nextToken (AWS also answers
#: a long search in pages, possibly with no events and a nextToken).
FILTER_SCAN_BUDGET = 1.0


def _invalid(message: str) -> ServiceError:
    return ServiceError("InvalidParameterException", message, 400)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except GroupNotFound:
        raise ServiceError(
            "ResourceNotFoundException", "The specified log group does not exist.", 400
        ) from None
    except StreamNotFound:
        raise ServiceError(
            "ResourceNotFoundException", "The specified log stream does not exist.", 400
        ) from None
    except AlreadyExists as exc:
        raise ServiceError("ResourceAlreadyExistsException", str(exc), 400) from None
    except BadToken:
        raise _invalid("The specified nextToken is invalid.") from None
    except PatternError as exc:
        raise _invalid(str(exc)) from None


def group_name(params: dict[str, Any], ctx: RequestContext | None = None) -> str:
    """`logGroupName`, else `logGroupIdentifier` (a name or an ARN; an ARN of another account
    than `ctx`'s is AccessDeniedException, as no cross-account observability is configured)."""
    name = params.get("logGroupName")
    ident = params.get("logGroupIdentifier")
    if name and ident:
        raise _invalid("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
    if name:
        return str(name)
    if not ident:
        raise _invalid("Either logGroupName or logGroupIdentifier must be specified.")
    if str(ident).startswith("arn:"):
        parts = str(ident).split(":", 6)
        if len(parts) < 7 or parts[5] != "log-group":
            raise _invalid(f"Invalid log group identifier: {ident}")
        if ctx is not None and parts[4] != ctx.account_id:
            action = f"logs:{ctx.operation}"
            raise ServiceError(
                "AccessDeniedException",
                f"User: {ctx.principal.caller_arn} is not authorized to perform: {action} on resource: "
                f"{ident} because no resource-based policy allows the {action} action",
                400,
            )
        return parts[6].removesuffix(":*")
    return str(ident)


def _page_token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def _from_page_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _invalid("The specified nextToken is invalid.") from None


class LogsProvider(ServiceProvider):
    service = "logs"

    def __init__(self, logs: LogStore, writer: LogWriter) -> None:
        super().__init__()
        self.logs = logs
        self.writer = writer

    def _arn(self, ctx: RequestContext, group: str) -> str:
        return f"arn:aws:logs:{ctx.region}:{ctx.account_id}:log-group:{group}"

    # -- groups ---------------------------------------------------------------------------

    @operation("CreateLogGroup")
    def create_log_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with _errors():
            self.logs.create_group(ctx.account_id, ctx.region, params["logGroupName"])
        return {}

    @operation("DeleteLogGroup")
    def delete_log_group(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.writer.flush()  # nothing buffered may bring the group back afterwards
        with _errors():
            self.logs.delete_group(ctx.account_id, ctx.region, params["logGroupName"])
        return {}

    @operation("PutRetentionPolicy")
    def put_retention_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        days = int(params["retentionInDays"])
        if days not in RETENTION_DAYS:
            raise _invalid(
                f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy "
                f"constraint: Member must satisfy enum value set: {sorted(RETENTION_DAYS)}"
            )
        with _errors():
            self.logs.set_retention(ctx.account_id, ctx.region, params["logGroupName"], days)
        return {}

    @operation("DeleteRetentionPolicy")
    def delete_retention_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with _errors():
            self.logs.set_retention(ctx.account_id, ctx.region, params["logGroupName"], None)
        return {}

    @operation("DescribeLogGroups")
    def describe_log_groups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.writer.flush()
        limit = int(params.get("limit") or DEFAULT_PAGE)
        after = _from_page_token(params["nextToken"]) if params.get("nextToken") else None
        found = self.logs.groups(
            ctx.account_id, ctx.region, params.get("logGroupNamePrefix") or "", after, limit + 1
        )
        out: dict[str, Any] = {
            "logGroups": [
                {
                    **g,
                    "metricFilterCount": 0,
                    "arn": self._arn(ctx, g["logGroupName"]) + ":*",
                    "logGroupArn": self._arn(ctx, g["logGroupName"]),
                    "logGroupClass": "STANDARD",
                }
                for g in found[:limit]
            ]
        }
        if len(found) > limit:
            out["nextToken"] = _page_token(found[limit - 1]["logGroupName"])
        return out

    # -- streams --------------------------------------------------------------------------

    @operation("CreateLogStream")
    def create_log_stream(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with _errors():
            self.logs.create_stream(
                ctx.account_id, ctx.region, params["logGroupName"], params["logStreamName"]
            )
        return {}

    @operation("DeleteLogStream")
    def delete_log_stream(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.writer.flush()
        with _errors():
            self.logs.delete_stream(
                ctx.account_id, ctx.region, params["logGroupName"], params["logStreamName"]
            )
        return {}

    @operation("DescribeLogStreams")
    def describe_log_streams(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.writer.flush()
        group = group_name(params, ctx)
        prefix = params.get("logStreamNamePrefix") or ""
        order = params.get("orderBy") or "LogStreamName"
        if prefix and order == "LastEventTime":
            raise _invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
        with _errors():
            streams = [
                s
                for s in self.logs.streams(ctx.account_id, ctx.region, group)
                if s["logStreamName"].startswith(prefix)
            ]
        key: Callable[[dict[str, Any]], Any] = (
            (lambda s: (s.get("lastEventTimestamp", 0), s["logStreamName"]))
            if order == "LastEventTime"
            else (lambda s: s["logStreamName"])
        )
        streams.sort(key=key, reverse=bool(params.get("descending")))
        start = 0
        if params.get("nextToken"):
            try:
                start = int(_from_page_token(params["nextToken"]))
            except ValueError:
                raise _invalid("The specified nextToken is invalid.") from None
        limit = int(params.get("limit") or DEFAULT_PAGE)
        page = streams[start : start + limit]
        arn = self._arn(ctx, group)
        out: dict[str, Any] = {
            "logStreams": [{**s, "arn": f"{arn}:log-stream:{s['logStreamName']}"} for s in page]
        }
        if start + limit < len(streams):
            out["nextToken"] = _page_token(str(start + limit))
        return out

    # -- events ---------------------------------------------------------------------------

    @operation("PutLogEvents")
    def put_log_events(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group, stream = params["logGroupName"], params["logStreamName"]
        events = [(int(e["timestamp"]), str(e["message"])) for e in params["logEvents"]]
        if any(a[0] > b[0] for a, b in itertools.pairwise(events)):
            raise _invalid("Log events in a single PutLogEvents request must be in chronological order.")
        with _errors():
            if not any(
                s["logStreamName"] == stream for s in self.logs.streams(ctx.account_id, ctx.region, group)
            ):
                raise StreamNotFound(stream)
            self.writer.append(ctx.account_id, ctx.region, group, stream, events)
            self.writer.flush()  # acknowledged means stored
        return {"nextSequenceToken": "0"}

    @operation("GetLogEvents")
    def get_log_events(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.writer.flush()
        with _errors():
            events, forward, backward = self.logs.get_events(
                ctx.account_id,
                ctx.region,
                group_name(params, ctx),
                params["logStreamName"],
                start=params.get("startTime"),
                end=params.get("endTime"),
                from_head=bool(params.get("startFromHead")),
                token=params.get("nextToken"),
                limit=int(params.get("limit") or 10_000),
            )
        return {
            "events": [e.output() for e in events],
            "nextForwardToken": forward,
            "nextBackwardToken": backward,
        }

    @operation("FilterLogEvents")
    async def filter_log_events(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.writer.flush()
        names = params.get("logStreamNames")
        if names and params.get("logStreamNamePrefix"):
            raise _invalid("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
        with _errors():
            match = compile_pattern(params.get("filterPattern"))
            # The scan (and every pattern match) runs on a thread, bounded in time per call
            # (paged by nextToken), so other requests are served meanwhile.
            events, token = await asyncio.to_thread(
                self.logs.filter_events,
                ctx.account_id,
                ctx.region,
                group_name(params, ctx),
                streams=names or None,
                stream_prefix=params.get("logStreamNamePrefix"),
                start=params.get("startTime"),
                end=params.get("endTime"),
                match=match,
                token=params.get("nextToken"),
                limit=int(params.get("limit") or 10_000),
                budget=FILTER_SCAN_BUDGET,
            )
        out: dict[str, Any] = {"events": [_filtered(e) for e in events], "searchedLogStreams": []}
        if token:
            out["nextToken"] = token
        return out


def _filtered(e: Event) -> dict[str, Any]:
    return {
        "logStreamName": e.stream,
        "timestamp": e.timestamp,
        "message": e.message,
        "ingestionTime": e.ingestion_time,
        "eventId": f"{e.timestamp:020d}{e.position[0]:012d}{e.position[1]:06d}",
    }
