"""Queue records in the store, and queue URLs / ARNs.

A queue is keyed by (account, region, name) in namespace `sqs.queues`. Its
`qid` is a durable sequence number: a queue deleted and created again under
the same name gets a new qid, so the messages of the old one (keyed by qid)
never leak into the new one.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import orjson

from squall.protocol.errors import ServiceError
from squall.services.sqs.errors import queue_does_not_exist
from squall.storage import ReadTxn, Store, WriteTxn, keys

NS = "sqs.queues"
SEQ = "sqs.qid"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
_FIFO_NAME = re.compile(r"[A-Za-z0-9_-]{1,75}\.fifo")
_HOST_REGION = re.compile(r"^(?:sqs\.)?([a-z]{2}(?:-[a-z]+)+-\d+)\.")


@dataclass
class Queue:
    account: str
    region: str
    name: str
    qid: int
    attributes: dict[str, str]
    created: int
    modified: int
    tags: dict[str, str] = field(default_factory=dict)
    #: Unix seconds of the last PurgeQueue (0: never).
    purged: float = 0.0

    @property
    def fifo(self) -> bool:
        return self.name.endswith(".fifo")

    @property
    def arn(self) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account}:{self.name}"

    def url(self, endpoint: str) -> str:
        return f"{endpoint.rstrip('/')}/{self.account}/{self.name}"

    def int_attr(self, name: str) -> int:
        return int(self.attributes[name])

    def dump(self) -> bytes:
        return orjson.dumps(self)

    @classmethod
    def load(cls, raw: bytes) -> Queue:
        return cls(**orjson.loads(raw))


def valid_name(name: str) -> bool:
    return bool(_FIFO_NAME.fullmatch(name) if name.endswith(".fifo") else _NAME.fullmatch(name))


def queue_key(account: str, region: str, name: str) -> bytes:
    return keys.pack(account, region, name)


def parse_arn(arn: str) -> tuple[str, str, str] | None:
    """(account, region, name) of an SQS queue ARN, or None."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs":
        return None
    return parts[4], parts[3], parts[5]


def parse_url(url: str, default_account: str, default_region: str) -> tuple[str, str, str]:
    """(account, region, name) of a queue URL: any URL whose path is /<account>/<name>, the
    region from an `sqs.REGION.` / `REGION.` host (as in `sqs.eu-west-1.localhost.localstack.cloud`)
    else from the request; or LocalStack's path style, /queue/<region>/<account>/<name>."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) == 4 and segments[0] == "queue" and segments[2].isdigit():
        return segments[2], segments[1], segments[3]
    if len(segments) != 2 or not segments[0].isdigit():
        raise queue_does_not_exist()
    match = _HOST_REGION.match(parts.hostname or "")
    region = match.group(1) if match else default_region
    return segments[0] or default_account, region, segments[1]


class QueueDirectory:
    """Queue records: lookup by URL/ARN/name, create, update, delete."""

    def __init__(self, store: Store) -> None:
        self.store = store
        #: Queues read outside write transactions, by key; every write through `put` /
        #: `delete` drops the entry (this process is the store's only writer).
        self._cache: dict[bytes, Queue] = {}

    @staticmethod
    def read(txn: ReadTxn, account: str, region: str, name: str) -> Queue | None:
        raw = txn.get(NS, queue_key(account, region, name))
        return Queue.load(raw) if raw is not None else None

    def get(self, account: str, region: str, name: str) -> Queue:
        """The queue (a shared cached record: do not mutate it; `read` a copy in a write
        transaction to change it)."""
        key = queue_key(account, region, name)
        queue = self._cache.get(key)
        if queue is None:
            with self.store.read() as r:
                queue = self.read(r, account, region, name)
            if queue is None:
                raise queue_does_not_exist()
            self._cache[key] = queue
        return queue

    def by_url(self, url: str, account: str, region: str) -> Queue:
        return self.get(*parse_url(url, account, region))

    def by_arn(self, arn: str) -> Queue | None:
        parsed = parse_arn(arn)
        if parsed is None:
            return None
        try:
            return self.get(*parsed)
        except ServiceError:
            return None

    def by_arn_or_url(self, ref: str, account: str, region: str) -> Queue:
        if ref.startswith("arn:"):
            queue = self.by_arn(ref)
            if queue is None:
                raise queue_does_not_exist()
            return queue
        return self.by_url(ref, account, region)

    def put(self, txn: WriteTxn, queue: Queue) -> None:
        key = queue_key(queue.account, queue.region, queue.name)
        self._cache.pop(key, None)
        txn.put(NS, key, queue.dump())

    def delete(self, txn: WriteTxn, queue: Queue) -> None:
        key = queue_key(queue.account, queue.region, queue.name)
        self._cache.pop(key, None)
        txn.delete(NS, key)

    def create(
        self, txn: WriteTxn, account: str, region: str, name: str, attributes: dict[str, str]
    ) -> Queue:
        now = int(time.time())
        queue = Queue(account, region, name, txn.next_sequence(SEQ), attributes, now, now)
        self.put(txn, queue)
        return queue

    def in_region(self, account: str, region: str, prefix: str = "") -> list[Queue]:
        with self.store.read() as r:
            found = [Queue.load(v) for _, v in r.scan(NS, prefix=keys.pack(account, region))]
        return [q for q in found if q.name.startswith(prefix)]

    def all(self) -> list[Queue]:
        with self.store.read() as r:
            return [Queue.load(v) for _, v in r.scan(NS)]
