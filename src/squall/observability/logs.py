"""A durable CloudWatch-Logs-style store: log groups, streams and their events.

Layout (namespaces of the `Store`):

- ``logs.groups``  ``(account, region, group)`` -> JSON group record
- ``logs.streams`` ``(account, region, group, stream)`` -> JSON stream record
- ``logs.events``  ``(account, region, group, stream, timestamp, batch, index)``
  -> JSON ``[message, ingestionTime]``

Events of a stream sort by timestamp, then by arrival (``batch`` is a durable
counter per appended batch, ``index`` the position within it), so GetLogEvents
is one range scan and FilterLogEvents a merge of one range scan per stream.
Events older than a group's retention are hidden from reads and deleted by
`expire`.

Writes normally go through `writer.LogWriter`, which batches appends
off the request path; `append` here is the synchronous, durable write it uses.
"""

from __future__ import annotations

import functools
import heapq
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from squall.storage import Store, WriteTxn, pack, unpack

GROUPS, STREAMS, EVENTS = "logs.groups", "logs.streams", "logs.events"
MAX_EVENTS = 10_000
MAX_RESPONSE_BYTES = 1_048_576
DAY_MS = 86_400_000
_FAR_FUTURE = 2**62


class LogsError(Exception):
    """Base of the log store's domain errors."""


class GroupNotFound(LogsError):
    pass


class StreamNotFound(LogsError):
    pass


class AlreadyExists(LogsError):
    def __init__(self, kind: str) -> None:
        super().__init__(f"The specified log {kind} already exists")
        self.kind = kind


class BadToken(LogsError):
    pass


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Event:
    stream: str
    timestamp: int
    ingestion_time: int
    message: str
    position: tuple[int, int]  # (batch, index): arrival order among equal timestamps

    def output(self) -> dict[str, Any]:
        return {"timestamp": self.timestamp, "message": self.message, "ingestionTime": self.ingestion_time}


_ENCODER = json.JSONEncoder(separators=(",", ":"))  # json.dumps with options builds one per call


def _dumps(value: Any) -> bytes:
    return _ENCODER.encode(value).encode()


def _event_value(message: str, ingested: int) -> bytes:
    """`[message, ingestionTime]` as JSON (orjson; the stdlib for what it refuses: lone surrogates)."""
    try:
        return orjson.dumps((message, ingested))
    except TypeError:
        return _dumps([message, ingested])


@functools.lru_cache(maxsize=8192)
def _packed(n: int) -> bytes:
    """pack(n), memoised: event keys repeat timestamps and small indexes."""
    return pack(n)


class LogStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- groups and streams -------------------------------------------------------------

    def create_group(self, account: str, region: str, group: str, retention_days: int | None = None) -> None:
        with self.store.write() as w:
            if w.get(GROUPS, pack(account, region, group)) is not None:
                raise AlreadyExists("group")
            self._put_group(w, account, region, group, retention_days)

    @staticmethod
    def _put_group(
        w: WriteTxn, account: str, region: str, group: str, retention: int | None
    ) -> dict[str, Any]:
        record: dict[str, Any] = {"creationTime": now_ms(), "storedBytes": 0}
        if retention is not None:
            record["retentionInDays"] = retention
        w.put(GROUPS, pack(account, region, group), _dumps(record))
        return record

    def create_stream(self, account: str, region: str, group: str, stream: str) -> None:
        with self.store.write() as w:
            if w.get(GROUPS, pack(account, region, group)) is None:
                raise GroupNotFound(group)
            if w.get(STREAMS, pack(account, region, group, stream)) is not None:
                raise AlreadyExists("stream")
            w.put(STREAMS, pack(account, region, group, stream), _dumps(_new_stream()))

    def delete_group(self, account: str, region: str, group: str) -> None:
        with self.store.write() as w:
            if not w.delete(GROUPS, pack(account, region, group)):
                raise GroupNotFound(group)
            w.delete_range(STREAMS, prefix=pack(account, region, group))
            w.delete_range(EVENTS, prefix=pack(account, region, group))

    def delete_stream(self, account: str, region: str, group: str, stream: str) -> None:
        with self.store.write() as w:
            if not w.delete(STREAMS, pack(account, region, group, stream)):
                raise StreamNotFound(stream)
            w.delete_range(EVENTS, prefix=pack(account, region, group, stream))

    def set_retention(self, account: str, region: str, group: str, days: int | None) -> None:
        with self.store.write() as w:
            raw = w.get(GROUPS, pack(account, region, group))
            if raw is None:
                raise GroupNotFound(group)
            record = json.loads(raw)
            record.pop("retentionInDays", None)
            if days is not None:
                record["retentionInDays"] = days
            w.put(GROUPS, pack(account, region, group), _dumps(record))

    def groups(
        self, account: str, region: str, prefix: str = "", after: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Groups whose name starts with `prefix`, by name, after the name `after`; at most `limit`."""
        start = pack(account, region, after + "\x00") if after is not None else None
        out = []
        with self.store.read() as r:
            for key, raw in r.scan(GROUPS, prefix=pack(account, region), start=start):
                name = str(unpack(key)[2])
                if not name.startswith(prefix):
                    if name > prefix:
                        break
                    continue
                out.append({"logGroupName": name, **json.loads(raw)})
                if len(out) >= limit:
                    break
        return out

    def group(self, account: str, region: str, group: str) -> dict[str, Any] | None:
        with self.store.read() as r:
            raw = r.get(GROUPS, pack(account, region, group))
        return None if raw is None else {"logGroupName": group, **json.loads(raw)}

    def streams(self, account: str, region: str, group: str) -> list[dict[str, Any]]:
        """Every stream of a group, by name; raises `GroupNotFound`."""
        with self.store.read() as r:
            if r.get(GROUPS, pack(account, region, group)) is None:
                raise GroupNotFound(group)
            return [
                {"logStreamName": str(unpack(k)[3]), **json.loads(v)}
                for k, v in r.scan(STREAMS, prefix=pack(account, region, group))
            ]

    # -- writing events -------------------------------------------------------------------

    def append(
        self,
        batches: Sequence[tuple[str, str, str, str, Sequence[tuple[int, str]]]],
        ingestion_time: int | None = None,
    ) -> None:
        """Durably append `(account, region, group, stream, [(timestamp_ms, message), ...])` batches
        in one transaction, creating missing groups and streams (as Lambda does for its own)."""
        ingested = ingestion_time or now_ms()
        # One stream's batches become one (its group and stream records are read and written once):
        # a busy function's writer flush holds many small batches of the same stream.
        merged: dict[tuple[str, str, str, str], list[tuple[int, str]]] = {}
        for account, region, group, stream, events in batches:
            if events:
                merged.setdefault((account, region, group, stream), []).extend(events)
        groups: dict[bytes, dict[str, Any]] = {}
        with self.store.write() as w:
            for (account, region, group, stream), events in merged.items():
                gkey, skey = pack(account, region, group), pack(account, region, group, stream)
                grec = groups.get(gkey)
                if grec is None:
                    graw = w.get(GROUPS, gkey)
                    grec = groups[gkey] = (
                        json.loads(graw)
                        if graw is not None
                        else self._put_group(w, account, region, group, None)
                    )
                sraw = w.get(STREAMS, skey)
                srec = json.loads(sraw) if sraw is not None else _new_stream()
                batch = pack(w.next_sequence(EVENTS))
                # pack(*a, *b) == pack(*a) + pack(*b): the stream's key prefixes every event key.
                size = 0
                rows = []
                for index, (ts, message) in enumerate(events):
                    rows.append(
                        (skey + _packed(ts) + batch + _packed(index), _event_value(message, ingested))
                    )
                    size += len(message.encode(errors="surrogatepass"))
                w.put_many(EVENTS, rows)
                first, last = min(ts for ts, _ in events), max(ts for ts, _ in events)
                srec["firstEventTimestamp"] = min(srec.get("firstEventTimestamp", first), first)
                srec["lastEventTimestamp"] = max(srec.get("lastEventTimestamp", last), last)
                srec["lastIngestionTime"] = ingested
                srec["storedBytes"] = srec.get("storedBytes", 0) + size
                grec["storedBytes"] = grec.get("storedBytes", 0) + size
                w.put(STREAMS, skey, _dumps(srec))
            for gkey, grec in groups.items():
                w.put(GROUPS, gkey, _dumps(grec))

    def expire(self, now: int | None = None) -> int:
        """Delete events older than their group's retention; returns how many."""
        now = now or now_ms()
        with self.store.write() as w:
            ranges = []
            for gkey, raw in w.scan(GROUPS):
                days = json.loads(raw).get("retentionInDays")
                if days:
                    cutoff = pack(now - int(days) * DAY_MS)
                    ranges += [(skey, skey + cutoff) for skey, _ in w.scan(STREAMS, prefix=gkey)]
            return sum(w.delete_range(EVENTS, prefix=skey, end=end) for skey, end in ranges)

    # -- reading events -------------------------------------------------------------------

    def _floor(self, r: Any, account: str, region: str, group: str) -> int:
        raw = r.get(GROUPS, pack(account, region, group))
        if raw is None:
            raise GroupNotFound(group)
        days = json.loads(raw).get("retentionInDays")
        return now_ms() - int(days) * DAY_MS if days else 0

    def get_events(
        self,
        account: str,
        region: str,
        group: str,
        stream: str,
        *,
        start: int | None = None,
        end: int | None = None,
        from_head: bool = False,
        token: str | None = None,
        limit: int = MAX_EVENTS,
    ) -> tuple[list[Event], str, str]:
        """GetLogEvents: (events ascending, nextForwardToken, nextBackwardToken).

        Tokens are positions: ``f/T/B/I`` means "after event (T, B, I)", ``b/T/B/I`` "before it".
        At the end of the stream the token passed in comes back unchanged."""
        with self.store.read() as r:
            floor = self._floor(r, account, region, group)
            if r.get(STREAMS, pack(account, region, group, stream)) is None:
                raise StreamNotFound(stream)
            lo_ts, hi_ts = max(start or 0, floor), end if end is not None else _FAR_FUTURE
            base = (account, region, group, stream)
            lo, hi = pack(*base, lo_ts), pack(*base, hi_ts)
            forward = from_head
            if token is not None:
                direction, pos = _parse_position(token)
                forward = direction == "f"
                if forward:
                    lo = max(lo, pack(*base, pos[0], pos[1], pos[2] + 1))
                else:
                    hi = min(hi, pack(*base, *pos))
            rows = list(r.scan(EVENTS, start=lo, end=hi, reverse=not forward, limit=limit))
        events = _cap([_event(stream, k, v) for k, v in rows])
        if not forward:
            events.reverse()
        if not events:
            if token is not None:
                return [], token, token.replace("f/", "b/", 1) if forward else token
            return [], _token("f", (lo_ts, 0, -1)), _token("b", (hi_ts, 0, 0))
        first, last = events[0], events[-1]
        return (
            events,
            _token("f", (last.timestamp, *last.position)),
            _token("b", (first.timestamp, *first.position)),
        )

    def filter_events(
        self,
        account: str,
        region: str,
        group: str,
        *,
        streams: Sequence[str] | None = None,
        stream_prefix: str | None = None,
        start: int | None = None,
        end: int | None = None,
        match: Any = None,
        token: str | None = None,
        limit: int = MAX_EVENTS,
        budget: float | None = None,
    ) -> tuple[list[Event], str | None]:
        """FilterLogEvents: events of the group's streams interleaved by time; (events, nextToken).

        `budget` (seconds) bounds one call's scan, as AWS bounds one FilterLogEvents call: past
        it the call returns what it found so far (maybe nothing) and a nextToken after the last
        event it scanned, so a costly pattern over a large group is paged, never unbounded."""
        deadline = time.monotonic() + budget if budget is not None else None
        after: tuple[int, str, int, int] | None = None
        if token is not None:
            after = _parse_filter_token(token)
        with self.store.read() as r:
            floor = self._floor(r, account, region, group)
            lo_ts = max(start or 0, floor, after[0] if after else 0)
            hi_ts = end if end is not None else _FAR_FUTURE
            names = [
                str(unpack(k)[3])
                for k, raw in r.scan(STREAMS, prefix=pack(account, region, group))
                if _wanted(str(unpack(k)[3]), json.loads(raw), streams, stream_prefix, lo_ts, hi_ts)
            ]
            merged = heapq.merge(
                *(self._stream_events(r, account, region, group, n, lo_ts, hi_ts) for n in names),
                key=lambda e: (e.timestamp, e.stream, e.position),
            )
            out: list[Event] = []
            more = False
            scanned: Event | None = None
            for n, event in enumerate(merged):
                late = deadline is not None and n & 255 == 255 and time.monotonic() > deadline
                if late and scanned is not None:
                    capped = _cap(out)
                    return capped, _filter_token(capped[-1] if len(capped) < len(out) else scanned)
                if after is not None and (event.timestamp, event.stream, *event.position) <= after:
                    continue
                scanned = event
                if match is not None and not match(event.message):
                    continue
                if len(out) >= limit:
                    more = True
                    break
                out.append(event)
        out = _cap(out)
        if not more and len(out) == limit:
            more = True
        if not out or not more:
            return out, None
        return out, _filter_token(out[-1])

    @staticmethod
    def _stream_events(
        r: Any, account: str, region: str, group: str, stream: str, lo: int, hi: int
    ) -> Iterator[Event]:
        base = (account, region, group, stream)
        for k, v in r.scan(EVENTS, start=pack(*base, lo), end=pack(*base, hi)):
            yield _event(stream, k, v)


def _filter_token(last: Event) -> str:
    """FilterLogEvents' nextToken: resume after `last`."""
    return f"{last.timestamp}/{last.position[0]}/{last.position[1]}/{last.stream}"


def _new_stream() -> dict[str, Any]:
    return {"creationTime": now_ms(), "storedBytes": 0}


def _wanted(
    name: str, record: dict[str, Any], names: Sequence[str] | None, prefix: str | None, lo: int, hi: int
) -> bool:
    if names is not None and name not in names:
        return False
    if prefix and not name.startswith(prefix):
        return False
    first, last = record.get("firstEventTimestamp"), record.get("lastEventTimestamp")
    return first is not None and last is not None and last >= lo and first < hi


def _event(stream: str, key: bytes, value: bytes) -> Event:
    parts = unpack(key)
    message, ingested = json.loads(value)
    return Event(stream, int(parts[4]), int(ingested), str(message), (int(parts[5]), int(parts[6])))  # type: ignore[arg-type]


def _cap(events: list[Event]) -> list[Event]:
    total = 0
    for i, e in enumerate(events):
        total += len(e.message) + 26
        if total > MAX_RESPONSE_BYTES and i:
            return events[:i]
    return events


def _token(direction: str, pos: tuple[int, int, int]) -> str:
    return f"{direction}/{pos[0]}/{pos[1]}/{pos[2]}"


def _parse_position(token: str) -> tuple[str, tuple[int, int, int]]:
    try:
        direction, ts, batch, index = token.split("/")
        if direction not in ("f", "b"):
            raise ValueError(direction)
        return direction, (int(ts), int(batch), int(index))
    except ValueError:
        raise BadToken(token) from None


def _parse_filter_token(token: str) -> tuple[int, str, int, int]:
    try:
        ts, batch, index, stream = token.split("/", 3)
        return int(ts), stream, int(batch), int(index)
    except ValueError:
        raise BadToken(token) from None
