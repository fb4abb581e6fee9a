"""Messages in the store: send, receive, delete, visibility, purge, counts.

Namespaces:
- `sqs.msg`   pack(qid, seq) -> the message record (JSON); seq is a global
  durable counter, so within a queue keys are in send order (FIFO order).
- `sqs.vis`   pack(qid, visible_at_ms, seq) -> b"": the visibility index;
  a standard receive is a range scan up to now, not a scan of the queue.
- `sqs.dedup` pack(qid, group or "", dedup id) -> {id, seq, at}: FIFO
  deduplication records, honoured for five minutes.

Every method is one short write (or read) transaction; callers on the event
loop notify waiters afterwards. Times are integer milliseconds.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from squall.services.sqs.queues import Queue, QueueDirectory, parse_arn
from squall.storage import Store, WriteTxn, keys

MSG = "sqs.msg"
VIS = "sqs.vis"
DEDUP = "sqs.dedup"
SEQ = "sqs.seq"
DEDUP_WINDOW_MS = 300_000
#: Message seqs are allocated in blocks: one durable counter step per transaction.
SEQ_BLOCK = 16


class Seqs:
    """Increasing message seqs for one write transaction: `next_sequence(SEQ) * SEQ_BLOCK`
    plus an offset, taking a new block every SEQ_BLOCK messages."""

    def __init__(self, w: WriteTxn) -> None:
        self.w = w
        self.base = 0
        self.used = SEQ_BLOCK

    def next(self) -> int:
        if self.used == SEQ_BLOCK:
            self.base, self.used = self.w.next_sequence(SEQ) * SEQ_BLOCK, 0
        self.used += 1
        return self.base + self.used - 1


@dataclass
class Message:
    id: str
    seq: int
    body: str
    md5_body: str
    sent: int
    visible_at: int
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    md5_attributes: str | None = None
    system: dict[str, dict[str, str]] = field(default_factory=dict)
    md5_system: str | None = None
    sender: str = ""
    receive_count: int = 0
    first_receive: int = 0
    token: str = ""
    group: str | None = None
    dedup: str | None = None
    dlq_source: str | None = None

    def dump(self) -> bytes:
        return orjson.dumps(self)  # orjson serializes dataclasses natively (and fast)

    @classmethod
    def load(cls, raw: bytes) -> Message:
        return cls(**orjson.loads(raw))

    def handle(self, qid: int) -> str:
        return base64.urlsafe_b64encode(f"{qid}:{self.seq}:{self.token}".encode()).decode()

    @property
    def sequence_number(self) -> str:
        return f"{self.seq:020d}"


@dataclass(frozen=True)
class Handle:
    qid: int
    seq: int
    token: str


def parse_handle(handle: str) -> Handle | None:
    try:
        qid, seq, token = base64.urlsafe_b64decode(handle.encode()).decode().split(":")
        return Handle(int(qid), int(seq), token)
    except (ValueError, binascii.Error, UnicodeError):
        return None


@dataclass
class Counts:
    visible: int = 0
    in_flight: int = 0
    delayed: int = 0


class MessageStore:
    def __init__(self, store: Store, queues: QueueDirectory) -> None:
        self.store = store
        self.queues = queues

    # -- sending ---------------------------------------------------------------------------

    def send(self, queue: Queue, items: list[tuple[Message, int]], now: int) -> list[bool]:
        """Store (message, delay seconds) pairs in one transaction, setting each message's
        seq and visible_at. Per message, False for a FIFO duplicate (a deduplication id
        seen within five minutes): its id and seq become the original's."""
        fresh: list[bool] = []
        with self.store.write() as w:
            seqs = Seqs(w)
            for msg, delay_s in items:
                fresh.append(self._send_one(w, seqs, queue, msg, delay_s, now))
        return fresh

    def _send_one(self, w: WriteTxn, seqs: Seqs, queue: Queue, msg: Message, delay_s: int, now: int) -> bool:
        if msg.dedup is not None:
            scope = msg.group if queue.attributes.get("DeduplicationScope") == "messageGroup" else ""
            dkey = keys.pack(queue.qid, scope or "", msg.dedup)
            seen = w.get(DEDUP, dkey)
            if seen is not None:
                prior = orjson.loads(seen)
                if prior["at"] + DEDUP_WINDOW_MS > now:
                    msg.id, msg.seq = prior["id"], prior["seq"]
                    return False
            msg.seq = seqs.next()
            w.put(DEDUP, dkey, orjson.dumps({"id": msg.id, "seq": msg.seq, "at": now}))
        else:
            msg.seq = seqs.next()
        msg.visible_at = now + delay_s * 1000
        self._put(w, queue.qid, msg)
        return True

    @staticmethod
    def _put(w: WriteTxn, qid: int, msg: Message) -> None:
        w.put(MSG, keys.pack(qid, msg.seq), msg.dump())
        w.put(VIS, keys.pack(qid, msg.visible_at, msg.seq), b"")

    @staticmethod
    def _drop(w: WriteTxn, qid: int, msg: Message) -> None:
        w.delete(MSG, keys.pack(qid, msg.seq))
        w.delete(VIS, keys.pack(qid, msg.visible_at, msg.seq))

    # -- receiving -------------------------------------------------------------------------

    def receive(
        self, queue: Queue, limit: int, visibility_s: int, now: int
    ) -> tuple[list[Message], set[int]]:
        """Take up to `limit` visible messages, make them invisible for `visibility_s`.
        Also the qids of dead-letter queues that received messages."""
        retention_ms = queue.int_attr("MessageRetentionPeriod") * 1000
        redrive = _redrive(queue)
        taken: list[Message] = []
        moved: set[int] = set()
        with self.store.write() as w:
            for msg in self._candidates(w, queue, limit, now):
                if msg.sent + retention_ms <= now:
                    self._drop(w, queue.qid, msg)
                    continue
                if redrive is not None and msg.receive_count >= redrive[1]:
                    dlq = self._move_to_dlq(w, queue, msg, redrive[0], now)
                    if dlq is not None:
                        moved.add(dlq)
                        continue
                w.delete(VIS, keys.pack(queue.qid, msg.visible_at, msg.seq))
                msg.receive_count += 1
                msg.first_receive = msg.first_receive or now
                msg.token = secrets.token_hex(8)
                msg.visible_at = now + visibility_s * 1000
                self._put(w, queue.qid, msg)
                taken.append(msg)
                if len(taken) >= limit:
                    break
        return taken, moved

    def _candidates(self, w: WriteTxn, queue: Queue, limit: int, now: int) -> Iterator[Message]:
        """Visible messages in receive order, loaded lazily (the caller stops at `limit`)."""
        if not queue.fifo:
            found = list(
                w.scan(VIS, start=keys.pack(queue.qid), end=keys.pack(queue.qid, now + 1), limit=limit * 4)
            )
            for key, _ in found:
                raw = w.get(MSG, keys.pack(queue.qid, keys.unpack(key)[2]))
                if raw is not None:
                    yield Message.load(raw)
            return
        # FIFO: in send order; a group with a message in flight is blocked after it.
        blocked: set[str | None] = set()
        out = []
        for _, raw in list(w.scan(MSG, prefix=keys.pack(queue.qid))):
            msg = Message.load(raw)
            if msg.group in blocked:
                continue
            if msg.visible_at > now:
                blocked.add(msg.group)
                continue
            out.append(msg)
            if len(out) >= limit * 4:
                break
        yield from out

    def _move_to_dlq(self, w: WriteTxn, source: Queue, msg: Message, target_arn: str, now: int) -> int | None:
        parsed = parse_arn(target_arn)
        dlq = self.queues.read(w, *parsed) if parsed else None
        if dlq is None:
            return None
        self._drop(w, source.qid, msg)
        msg.seq = w.next_sequence(SEQ) * SEQ_BLOCK
        msg.visible_at = now
        msg.receive_count, msg.first_receive, msg.token = 0, 0, ""
        msg.dlq_source = source.arn
        self._put(w, dlq.qid, msg)
        return dlq.qid

    def next_visible_at(self, queue: Queue, now: int) -> int | None:
        """When the next not-yet-visible message becomes visible, if any."""
        with self.store.read() as r:
            for key, _ in r.scan(
                VIS, start=keys.pack(queue.qid, now + 1), end=keys.pack(queue.qid + 1), limit=1
            ):
                at = keys.unpack(key)[1]
                return at if isinstance(at, int) else None
        return None

    # -- after receiving -------------------------------------------------------------------

    def delete(self, queue: Queue, handles: list[Handle], now: int) -> list[bool]:
        """Delete, in one transaction, each message whose latest receipt handle is given.
        An older handle, or a message already gone, succeeds without effect (as AWS: "the
        request will succeed, but the message might not be deleted"). False only for a
        FIFO message whose handle expired (its visibility timeout passed): AWS refuses it."""
        out: list[bool] = []
        with self.store.write() as w:
            for handle in handles:
                raw = w.get(MSG, keys.pack(queue.qid, handle.seq))
                msg = Message.load(raw) if raw is not None else None
                if msg is None or msg.token != handle.token:
                    out.append(True)
                elif queue.fifo and msg.visible_at <= now:
                    out.append(False)
                else:
                    self._drop(w, queue.qid, msg)
                    out.append(True)
        return out

    def change_visibility(self, queue: Queue, handle: Handle, visibility_s: int, now: int) -> bool:
        """False when the message is gone or not in flight under this handle."""
        with self.store.write() as w:
            raw = w.get(MSG, keys.pack(queue.qid, handle.seq))
            if raw is None:
                return False
            msg = Message.load(raw)
            if msg.token != handle.token or msg.visible_at <= now:
                return False
            w.delete(VIS, keys.pack(queue.qid, msg.visible_at, msg.seq))
            msg.visible_at = now + visibility_s * 1000
            self._put(w, queue.qid, msg)
            return True

    def purge(self, queue: Queue) -> None:
        with self.store.write() as w:
            self._clear(w, queue.qid)

    @staticmethod
    def _clear(w: WriteTxn, qid: int) -> None:
        for ns in (MSG, VIS, DEDUP):
            w.delete_range(ns, prefix=keys.pack(qid))

    def drop_queue(self, w: WriteTxn, qid: int) -> None:
        self._clear(w, qid)

    def counts(self, queue: Queue, now: int) -> Counts:
        retention_ms = queue.int_attr("MessageRetentionPeriod") * 1000
        counts = Counts()
        with self.store.read() as r:
            for _, raw in r.scan(MSG, prefix=keys.pack(queue.qid)):
                msg = Message.load(raw)
                if msg.sent + retention_ms <= now:
                    continue
                if msg.visible_at <= now:
                    counts.visible += 1
                elif msg.receive_count:
                    counts.in_flight += 1
                else:
                    counts.delayed += 1
        return counts


def _redrive(queue: Queue) -> tuple[str, int] | None:
    raw = queue.attributes.get("RedrivePolicy")
    if not raw:
        return None
    policy: dict[str, Any] = json.loads(raw)
    return str(policy["deadLetterTargetArn"]), int(policy["maxReceiveCount"])


def new_message_id() -> str:
    return str(uuid.uuid4())


def move_visible(
    store: MessageStore, source: Queue, destination_arn: str | None, limit: int, now: int
) -> tuple[int, set[int], str | None]:
    """Move up to `limit` visible messages of `source` to `destination_arn` (None: each
    message back to the queue it was dead-lettered from). (moved, destination qids,
    failure reason or None)."""
    moved, targets = 0, set[int]()
    with store.store.write() as w:
        found = list(w.scan(MSG, prefix=keys.pack(source.qid), limit=limit * 4))
        cache: dict[str, Queue | None] = {}
        for _, raw in found:
            msg = Message.load(raw)
            if msg.visible_at > now:
                continue
            arn = destination_arn or msg.dlq_source
            if arn is None:
                return moved, targets, "Message has no source queue to move it back to."
            if arn not in cache:
                parsed = parse_arn(arn)
                cache[arn] = store.queues.read(w, *parsed) if parsed else None
            target = cache[arn]
            if target is None:
                return moved, targets, "Destination queue does not exist."
            MessageStore._drop(w, source.qid, msg)
            msg.seq = w.next_sequence(SEQ) * SEQ_BLOCK
            msg.visible_at = now
            msg.receive_count, msg.first_receive, msg.token, msg.dlq_source = 0, 0, "", None
            MessageStore._put(w, target.qid, msg)
            targets.add(target.qid)
            moved += 1
            if moved >= limit:
                break
    return moved, targets, None
