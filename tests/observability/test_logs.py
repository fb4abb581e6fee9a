"""The durable log store: groups, streams, ordering, GetLogEvents tokens, filtering, retention."""

from __future__ import annotations

from pathlib import Path

import pytest

from squall.observability.filter_pattern import compile_pattern
from squall.observability.logs import DAY_MS, AlreadyExists, GroupNotFound, LogStore, StreamNotFound, now_ms
from squall.storage import SQLiteStore

A, R, G = "000000000000", "us-east-1", "/aws/lambda/f"


@pytest.fixture
def logs(tmp_path: Path) -> LogStore:
    return LogStore(SQLiteStore(tmp_path / "db.sqlite"))


def messages(events: list) -> list[str]:  # type: ignore[type-arg]
    return [e.message for e in events]


def test_append_creates_group_and_stream_and_keeps_order(logs: LogStore) -> None:
    logs.append([(A, R, G, "s1", [(100, "b"), (50, "a"), (100, "c")])])
    logs.append([(A, R, G, "s1", [(100, "d")])])
    events, _, _ = logs.get_events(A, R, G, "s1", from_head=True)
    assert messages(events) == ["a", "b", "c", "d"]  # by time, then by arrival
    (stream,) = logs.streams(A, R, G)
    assert stream["firstEventTimestamp"] == 50 and stream["lastEventTimestamp"] == 100
    assert stream["storedBytes"] == 4
    assert logs.group(A, R, G)["storedBytes"] == 4  # type: ignore[index]


def test_one_append_of_many_batches_keeps_arrival_order_and_counts_every_stream(logs: LogStore) -> None:
    logs.append(
        [
            (A, R, G, "s1", [(100, "b1"), (100, "b2")]),
            (A, R, G, "s2", [(100, "x")]),
            (A, R, G, "s1", [(100, "c1"), (90, "a")]),
            (A, R, G, "s1", []),
            (A, R, G + "2", "s1", [(5, "other group")]),
        ]
    )
    events, _, _ = logs.get_events(A, R, G, "s1", from_head=True)
    assert messages(events) == ["a", "b1", "b2", "c1"]
    by_name = {s["logStreamName"]: s for s in logs.streams(A, R, G)}
    assert by_name["s1"]["storedBytes"] == 7 and by_name["s2"]["storedBytes"] == 1
    assert by_name["s1"]["firstEventTimestamp"] == 90 and by_name["s1"]["lastEventTimestamp"] == 100
    assert logs.group(A, R, G)["storedBytes"] == 8  # type: ignore[index]
    assert logs.group(A, R, G + "2")["storedBytes"] == 11  # type: ignore[index]


def test_create_and_delete_errors(logs: LogStore) -> None:
    logs.create_group(A, R, "g")
    with pytest.raises(AlreadyExists):
        logs.create_group(A, R, "g")
    with pytest.raises(GroupNotFound):
        logs.create_stream(A, R, "nope", "s")
    logs.create_stream(A, R, "g", "s")
    with pytest.raises(AlreadyExists):
        logs.create_stream(A, R, "g", "s")
    with pytest.raises(StreamNotFound):
        logs.get_events(A, R, "g", "other")
    logs.delete_group(A, R, "g")
    with pytest.raises(GroupNotFound):
        logs.streams(A, R, "g")


def test_group_listing_by_prefix_and_page(logs: LogStore) -> None:
    for name in ["/aws/lambda/a", "/aws/lambda/b", "/other", "/aws/lambda/c"]:
        logs.create_group(A, R, name)
    page = logs.groups(A, R, prefix="/aws/lambda/", limit=2)
    assert [g["logGroupName"] for g in page] == ["/aws/lambda/a", "/aws/lambda/b"]
    rest = logs.groups(A, R, prefix="/aws/lambda/", after="/aws/lambda/b")
    assert [g["logGroupName"] for g in rest] == ["/aws/lambda/c"]


def test_get_events_tokens_walk_both_ways_and_return_the_same_token_at_the_end(logs: LogStore) -> None:
    logs.append([(A, R, G, "s", [(i, f"m{i}") for i in range(10)])])
    events, fwd, back = logs.get_events(A, R, G, "s", limit=3)  # default: the latest events
    assert messages(events) == ["m7", "m8", "m9"]
    events, fwd2, _ = logs.get_events(A, R, G, "s", token=fwd)
    assert events == [] and fwd2 == fwd
    events, _, _ = logs.get_events(A, R, G, "s", token=back, limit=3)
    assert messages(events) == ["m4", "m5", "m6"]
    events, fwd3, _ = logs.get_events(A, R, G, "s", from_head=True, limit=4)
    assert messages(events) == ["m0", "m1", "m2", "m3"]
    events, _, _ = logs.get_events(A, R, G, "s", token=fwd3, limit=2)
    assert messages(events) == ["m4", "m5"]
    events, _, _ = logs.get_events(A, R, G, "s", start=3, end=5, from_head=True)
    assert messages(events) == ["m3", "m4"]
    logs.append([(A, R, G, "s", [(20, "new")])])
    events, _, _ = logs.get_events(A, R, G, "s", token=fwd)  # a tail picks up what came since
    assert messages(events) == ["new"]


def test_filter_scan_is_bounded_per_call_and_resumes_by_token(logs: LogStore) -> None:
    """Past its time budget a call returns what it found and a token after the last event it
    scanned; following the tokens finds every match, each exactly once."""
    logs.append([(A, R, G, "s1", [(i, "hit" if i % 300 == 0 else "miss") for i in range(1, 1201)])])
    match = compile_pattern("hit")
    found: list[str] = []
    token = None
    calls = 0
    while True:
        events, token = logs.filter_events(A, R, G, match=match, token=token, budget=0)
        found += [str(e.timestamp) for e in events]
        calls += 1
        if token is None:
            break
    assert found == ["300", "600", "900", "1200"]
    assert calls > 1  # the budget cut the scan into pages


def test_filter_interleaves_streams_matches_and_pages(logs: LogStore) -> None:
    logs.append([(A, R, G, "s1", [(1, "ERROR one"), (3, "info three")]), (A, R, G, "s2", [(2, "ERROR two")])])
    events, token = logs.filter_events(A, R, G)
    assert messages(events) == ["ERROR one", "ERROR two", "info three"] and token is None
    events, _ = logs.filter_events(A, R, G, match=compile_pattern("ERROR"))
    assert [e.stream for e in events] == ["s1", "s2"]
    events, _ = logs.filter_events(A, R, G, streams=["s2"])
    assert messages(events) == ["ERROR two"]
    page, token = logs.filter_events(A, R, G, limit=2)
    assert messages(page) == ["ERROR one", "ERROR two"] and token
    rest, token = logs.filter_events(A, R, G, token=token, limit=2)
    assert messages(rest) == ["info three"] and token is None
    events, _ = logs.filter_events(A, R, G, start=2, end=3)
    assert messages(events) == ["ERROR two"]


def test_retention_hides_and_expires_old_events(logs: LogStore) -> None:
    now = now_ms()
    logs.append([(A, R, G, "s", [(now - 3 * DAY_MS, "old"), (now, "new")])])
    logs.set_retention(A, R, G, 1)
    events, _ = logs.filter_events(A, R, G)
    assert messages(events) == ["new"]
    assert logs.expire() == 1
    logs.set_retention(A, R, G, None)
    events, _ = logs.filter_events(A, R, G)
    assert messages(events) == ["new"]


def test_logs_survive_reopening(tmp_path: Path) -> None:
    logs = LogStore(SQLiteStore(tmp_path / "db.sqlite"))
    logs.append([(A, R, G, "s", [(1, "kept")])])
    logs.store.close()
    again = LogStore(SQLiteStore(tmp_path / "db.sqlite"))
    assert messages(again.get_events(A, R, G, "s")[0]) == ["kept"]


def test_any_message_round_trips_and_is_sized_in_utf8(logs: LogStore) -> None:
    texts = ["plain", "h\u00e9llo \u2603", "lone \ud800 surrogate", 'quote " and \\ and \n newline', ""]
    logs.append([("a", "r", "g", "s", [(5, t) for t in texts])])
    events, _, _ = logs.get_events("a", "r", "g", "s")
    assert [e.message for e in events] == texts
    assert [e.position[1] for e in events] == list(range(len(texts)))
    (stream,) = logs.streams("a", "r", "g")
    assert stream["storedBytes"] == sum(len(t.encode(errors="surrogatepass")) for t in texts)
