"""The durable outbox: a published message and one delivery record per matching subscription,
committed in one transaction; a record is removed only once its delivery succeeded or finally failed.

Namespaces: `sns.msg` (seq -> Message + pending count), `sns.out` (seq -> Delivery),
`sns.dedup` (topic ARN, dedup id -> the first message's id and sequence number, 5 minutes).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import asdict, dataclass, replace
from typing import Any

import orjson

from squall.services.sns.messages import Message
from squall.services.sns.records import Subscription
from squall.storage import Store, pack

MSGS = "sns.msg"
OUT = "sns.out"
DEDUP = "sns.dedup"
DEDUP_WINDOW_S = 300


@dataclass(frozen=True)
class Delivery:
    """One pending delivery. `kind` is "Notification" (of message `mseq`) or a
    "SubscriptionConfirmation" / "UnsubscribeConfirmation" (carrying the subscription)."""

    seq: int
    kind: str
    sub_arn: str
    mseq: int | None = None
    attempt: int = 0
    due: float = 0.0
    subscription: dict[str, Any] | None = None

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))


class Outbox:
    def __init__(self, store: Store) -> None:
        self.store = store
        #: (expiry, key) of the deduplication entries written by this process, oldest first.
        self._dedup_expiry: deque[tuple[float, bytes]] = deque()

    def commit(
        self, message: Message, subs: list[Subscription], fifo: bool
    ) -> tuple[Message, list[Delivery]]:
        """Store `message` and its deliveries atomically. For a FIFO duplicate within the
        deduplication window: the original message (id, sequence number) and no deliveries."""
        now = time.time()
        with self.store.write() as w:
            while self._dedup_expiry and self._dedup_expiry[0][0] <= now:
                w.delete(DEDUP, self._dedup_expiry.popleft()[1])  # expired (a re-used id re-queues)
            if fifo and message.dedup is not None:
                dkey = pack(message.topic_arn, message.dedup)
                seen = w.get(DEDUP, dkey)
                if seen is not None:
                    first = orjson.loads(seen)
                    if first["expires"] > now:
                        return replace(message, id=first["id"], sequence_number=first["sn"]), []
                message = replace(message, sequence_number=f"{10**19 + w.next_sequence('sns.fifo'):020d}")
                w.put(
                    DEDUP,
                    dkey,
                    orjson.dumps(
                        {"id": message.id, "sn": message.sequence_number, "expires": now + DEDUP_WINDOW_S}
                    ),
                )
                self._dedup_expiry.append((now + DEDUP_WINDOW_S, dkey))
            elif fifo:
                message = replace(message, sequence_number=f"{10**19 + w.next_sequence('sns.fifo'):020d}")
            if not subs:
                return message, []
            mseq = w.next_sequence(MSGS)
            w.put(MSGS, pack(mseq), orjson.dumps({"pending": len(subs), "message": asdict(message)}))
            out = []
            for sub in subs:
                d = Delivery(w.next_sequence(OUT), "Notification", sub.arn, mseq=mseq, due=now)
                w.put(OUT, pack(d.seq), d.to_json())
                out.append(d)
        return message, out

    def add_confirmation(self, sub: Subscription, kind: str) -> Delivery:
        with self.store.write() as w:
            d = Delivery(w.next_sequence(OUT), kind, sub.arn, due=time.time(), subscription=asdict(sub))
            w.put(OUT, pack(d.seq), d.to_json())
        return d

    def pending(self) -> list[Delivery]:
        with self.store.read() as r:
            return [Delivery(**orjson.loads(v)) for _, v in r.scan(OUT)]

    def load(self, delivery: Delivery) -> tuple[Delivery, Message | None] | None:
        """The current record and its message; None once it is gone."""
        with self.store.read() as r:
            raw = r.get(OUT, pack(delivery.seq))
            if raw is None:
                return None
            current = Delivery(**orjson.loads(raw))
            if current.mseq is None:
                return current, None
            mraw = r.get(MSGS, pack(current.mseq))
        return current, (Message(**orjson.loads(mraw)["message"]) if mraw is not None else None)

    def reschedule(self, delivery: Delivery, attempt: int, due: float) -> Delivery:
        updated = replace(delivery, attempt=attempt, due=due)
        with self.store.write() as w:
            w.put(OUT, pack(delivery.seq), updated.to_json())
        return updated

    def finish(self, *deliveries: Delivery) -> None:
        """Drop the records (in one transaction), and each message with its last record."""
        with self.store.write() as w:
            for delivery in deliveries:
                if not w.delete(OUT, pack(delivery.seq)) or delivery.mseq is None:
                    continue
                key = pack(delivery.mseq)
                raw = w.get(MSGS, key)
                if raw is None:
                    continue
                doc = orjson.loads(raw)
                doc["pending"] -= 1
                if doc["pending"] <= 0:
                    w.delete(MSGS, key)
                else:
                    w.put(MSGS, key, orjson.dumps(doc))

    def sweep_dedup(self) -> None:
        now = time.time()
        with self.store.write() as w:
            for key, value in list(w.scan(DEDUP)):
                if orjson.loads(value)["expires"] <= now:
                    w.delete(DEDUP, key)
