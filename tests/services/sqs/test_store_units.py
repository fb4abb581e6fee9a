"""The message store's timing rules with an explicit clock (no sleeping)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from squall.services.sqs.message_attrs import attributes_md5
from squall.services.sqs.messages import Message, MessageStore, parse_handle
from squall.services.sqs.queues import Queue, QueueDirectory
from squall.storage import DataDir

T0 = 1_700_000_000_000


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[QueueDirectory, MessageStore]]:
    data = DataDir.open(tmp_path / "d")
    directory = QueueDirectory(data.store)
    yield directory, MessageStore(data.store, directory)
    data.close()


def make_queue(directory: QueueDirectory, name: str, **attrs: str) -> Queue:
    from squall.services.sqs.attributes import settable_defaults

    with directory.store.write() as w:
        return directory.create(
            w, "000000000000", "us-east-1", name, {**settable_defaults(name.endswith(".fifo")), **attrs}
        )


def send(
    store: MessageStore, queue: Queue, body: str, now: int, group: str | None = None, dedup: str | None = None
) -> Message:
    msg = Message(id=body, seq=0, body=body, md5_body="", sent=now, visible_at=0, group=group, dedup=dedup)
    store.send(queue, [(msg, 0)], now)
    return msg


def test_retention_expires_messages(setup: tuple[QueueDirectory, MessageStore]) -> None:
    directory, store = setup
    queue = make_queue(directory, "r", MessageRetentionPeriod="60")
    send(store, queue, "old", T0)
    assert store.counts(queue, T0 + 59_000).visible == 1
    assert store.counts(queue, T0 + 60_000).visible == 0
    assert store.receive(queue, 10, 30, T0 + 60_000)[0] == []


def test_visibility_and_next_visible(setup: tuple[QueueDirectory, MessageStore]) -> None:
    directory, store = setup
    queue = make_queue(directory, "v")
    send(store, queue, "a", T0)
    (msg,), _ = store.receive(queue, 10, 30, T0)
    assert store.receive(queue, 10, 30, T0 + 29_999)[0] == []
    assert store.next_visible_at(queue, T0) == T0 + 30_000
    handle = parse_handle(msg.handle(queue.qid))
    assert handle is not None and store.change_visibility(queue, handle, 0, T0 + 1)
    (again,), _ = store.receive(queue, 10, 30, T0 + 2)
    assert again.receive_count == 2 and again.token != msg.token


def test_fifo_group_blocked_while_in_flight(setup: tuple[QueueDirectory, MessageStore]) -> None:
    directory, store = setup
    queue = make_queue(directory, "f.fifo")
    for body, group in (("a1", "a"), ("b1", "b"), ("a2", "a"), ("b2", "b")):
        send(store, queue, body, T0, group=group, dedup=body)
    first, _ = store.receive(queue, 1, 30, T0)
    assert [m.body for m in first] == ["a1"]
    rest, _ = store.receive(queue, 10, 30, T0)
    assert [m.body for m in rest] == ["b1", "b2"]  # group a is blocked behind a1
    assert store.receive(queue, 10, 30, T0)[0] == []


def test_fifo_deduplication_window(setup: tuple[QueueDirectory, MessageStore]) -> None:
    directory, store = setup
    queue = make_queue(directory, "d.fifo")
    first = send(store, queue, "x", T0, group="g", dedup="same")
    dup = Message(id="y", seq=0, body="y", md5_body="", sent=T0, visible_at=0, group="g", dedup="same")
    assert store.send(queue, [(dup, 0)], T0 + 299_000) == [False]
    assert dup.id == first.id
    assert store.send(queue, [(dup, 0)], T0 + 300_000) == [True]


def test_attribute_digest_layout() -> None:
    # name, type and value each length-prefixed (4 bytes big-endian), transport byte 1 before a string value
    import hashlib

    raw = b"\x00\x00\x00\x01k" + b"\x00\x00\x00\x06String" + b"\x01" + b"\x00\x00\x00\x01v"
    assert attributes_md5({"k": {"DataType": "String", "StringValue": "v"}}) == hashlib.md5(raw).hexdigest()
    raw_b = b"\x00\x00\x00\x01k" + b"\x00\x00\x00\x06Binary" + b"\x02" + b"\x00\x00\x00\x01\x07"
    assert (
        attributes_md5({"k": {"DataType": "Binary", "BinaryValue": b"\x07"}})
        == hashlib.md5(raw_b).hexdigest()
    )


def test_stale_and_expired_handles(setup: tuple[QueueDirectory, MessageStore]) -> None:
    directory, store = setup
    queue = make_queue(directory, "h")
    send(store, queue, "a", T0)
    (first,), _ = store.receive(queue, 1, 1, T0)
    (second,), _ = store.receive(queue, 1, 1, T0 + 1_000)
    old, new = parse_handle(first.handle(queue.qid)), parse_handle(second.handle(queue.qid))
    assert old is not None and new is not None
    assert store.delete(queue, [old], T0 + 1_001) == [True]  # succeeds, deletes nothing
    assert store.counts(queue, T0 + 1_001).in_flight == 1
    assert store.delete(queue, [new], T0 + 5_000) == [True]  # latest handle, even after its timeout
    assert store.counts(queue, T0 + 5_000).visible == 0
    fifo = make_queue(directory, "h.fifo")
    send(store, fifo, "f", T0, group="g", dedup="f")
    (msg,), _ = store.receive(fifo, 1, 1, T0)
    handle = parse_handle(msg.handle(fifo.qid))
    assert handle is not None and store.delete(fifo, [handle], T0 + 1_000) == [False]  # expired
