"""DynamoDB Streams storage: the streams of each table and their records (see README.md "Streams").

Namespaces:

    dynamodb.streams  pack(account, region, table_name, label)     the stream (JSON, `StreamMeta`)
    dynamodb.stream   pack(stream_arn, shard_id, sequence_number)   one record (JSON, AWS's shape)

One open shard per stream. Sequence numbers come from one durable counter, formatted as 21-digit
zero-padded decimal strings, so they increase per shard and compare correctly as strings. A
stream is created when a table's stream is enabled (CreateTable/UpdateTable) and marked DISABLED,
its shard closed, when it is disabled or the table deleted; it stays readable for 24 hours.
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

import orjson

from squall.services.dynamodb.tables import Table
from squall.services.dynamodb.values import Item, item_size
from squall.storage import ReadTxn, WriteTxn, pack, unpack
from squall.storage.keys import prefix_end

STREAMS = "dynamodb.streams"
RECORDS = "dynamodb.stream"
SEQUENCE = "dynamodb.stream.seq"
SEQ_DIGITS = 21  # ports.SEQ_DIGITS: the format is part of the StreamRecords contract
RETENTION = 24 * 3600.0
SERVICE_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def seq(n: int) -> str:
    return f"{n:0{SEQ_DIGITS}d}"


def parse_arn(arn: str) -> tuple[str, str, str, str] | None:
    """(account, region, table, label) of `arn:aws:dynamodb:R:A:table/T/stream/L`, else None."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "dynamodb"] or not parts[5].startswith("table/"):
        return None
    table, sep, label = parts[5][len("table/") :].partition("/stream/")
    if not sep or not table or not label:
        return None
    return parts[4], parts[3], table, label


def meta_key(arn: str) -> bytes | None:
    found = parse_arn(arn)
    return None if found is None else pack(*found)


def load_meta(r: ReadTxn, arn: str) -> dict[str, Any] | None:
    key = meta_key(arn)
    raw = r.get(STREAMS, key) if key is not None else None
    return None if raw is None else dict(orjson.loads(raw))


def _save_meta(w: WriteTxn, meta: dict[str, Any]) -> None:
    key = meta_key(meta["StreamArn"])
    assert key is not None
    w.put(STREAMS, key, orjson.dumps(meta))


def _enabled_arn(table: Table | None) -> str | None:
    if table is None or not table.desc.get("StreamSpecification", {}).get("StreamEnabled"):
        return None
    return str(table.desc["LatestStreamArn"])


def sync(w: WriteTxn, old: Table | None, new: Table | None) -> None:
    """Create or close streams after a table description changed (None: created / deleted)."""
    before, after = _enabled_arn(old), _enabled_arn(new)
    if before == after:
        return
    now = time.time()
    if before is not None:
        meta = load_meta(w, before)
        if meta is not None and meta["StreamStatus"] == "ENABLED":
            meta["StreamStatus"] = "DISABLED"
            meta["DisabledAt"] = now
            meta["EndingSequenceNumber"] = seq(w.next_sequence(SEQUENCE))
            _save_meta(w, meta)
    if after is not None and new is not None:
        account, region = new.scope
        shard = f"shardId-{int(now * 1000):020d}-{secrets.token_hex(4)}"
        _save_meta(
            w,
            {
                "StreamArn": after,
                "StreamLabel": after.rsplit("/stream/", 1)[1],
                "TableName": new.name,
                "TableId": new.id,
                "Account": account,
                "Region": region,
                "StreamStatus": "ENABLED",
                "StreamViewType": new.desc["StreamSpecification"]["StreamViewType"],
                "CreationRequestDateTime": now,
                "KeySchema": new.desc["KeySchema"],
                "ShardId": shard,
                "StartingSequenceNumber": seq(w.next_sequence(SEQUENCE)),
                "TrimmedThrough": None,
            },
        )


def append(
    w: WriteTxn, table: Table, old: Item | None, new: Item | None, identity: dict[str, str] | None = None
) -> None:
    """Append the stream record of one item change (the table's stream must be enabled)."""
    arn = _enabled_arn(table)
    if arn is None:
        return
    view = table.desc["StreamSpecification"]["StreamViewType"]
    meta = load_meta(w, arn)
    if meta is None:  # a stream enabled before streams were recorded: create it now
        sync(w, None, table)
        meta = load_meta(w, arn)
        assert meta is not None
    image = new if new is not None else old
    assert image is not None
    keys = {n: image[n] for n in table.key.names}
    body: dict[str, Any] = {"ApproximateCreationDateTime": int(time.time()), "Keys": keys}
    if new is not None and view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
        body["NewImage"] = new
    if old is not None and view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
        body["OldImage"] = old
    number = seq(w.next_sequence(SEQUENCE))
    body["SequenceNumber"] = number
    body["SizeBytes"] = sum(item_size(body[k]) for k in ("Keys", "NewImage", "OldImage") if k in body)
    body["StreamViewType"] = view
    record: dict[str, Any] = {
        "eventID": uuid.uuid4().hex,
        "eventName": "INSERT" if old is None else "REMOVE" if new is None else "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": meta["Region"],
        "dynamodb": body,
    }
    if identity is not None:
        record["userIdentity"] = identity
    w.put(RECORDS, pack(arn, meta["ShardId"], number), orjson.dumps(record))
    w.notify(RECORDS, arn)  # after the commit: wakes the stream's readers (ports.StreamReader.wait)


def records(r: ReadTxn, arn: str, shard: str, after: str | None, limit: int) -> list[dict[str, Any]]:
    prefix = pack(arn, shard)
    start = pack(arn, shard, after) + b"\x00" if after is not None else None
    return [dict(orjson.loads(v)) for _, v in r.scan(RECORDS, prefix=prefix, start=start, limit=limit)]


def last_seq(r: ReadTxn, arn: str, shard: str) -> str | None:
    for k, _ in r.scan(RECORDS, prefix=pack(arn, shard), reverse=True, limit=1):
        return str(unpack(k)[2])
    return None


def streams_of(
    r: ReadTxn, account: str, region: str, table: str | None, after: bytes | None, limit: int
) -> list[dict[str, Any]]:
    prefix = pack(account, region, table) if table is not None else pack(account, region)
    start = after + b"\x00" if after is not None else None
    return [dict(orjson.loads(v)) for _, v in r.scan(STREAMS, prefix=prefix, start=start, limit=limit)]


def trim(w: WriteTxn, now: float) -> int:
    """Drop records older than 24 hours and streams disabled more than 24 hours ago."""
    dropped = 0
    horizon = now - RETENTION
    for _, raw in list(w.scan(STREAMS)):
        meta = dict(orjson.loads(raw))
        arn, shard = meta["StreamArn"], meta["ShardId"]
        if meta["StreamStatus"] == "DISABLED" and meta["DisabledAt"] < horizon:
            dropped += w.delete_range(RECORDS, prefix=pack(arn, shard))
            key = meta_key(arn)
            assert key is not None
            w.delete(STREAMS, key)
            continue
        last: str | None = None
        for k, v in w.scan(RECORDS, prefix=pack(arn, shard)):
            if orjson.loads(v)["dynamodb"]["ApproximateCreationDateTime"] >= horizon:
                break
            last = str(unpack(k)[2])
        if last is not None:
            end = prefix_end(pack(arn, shard, last))
            dropped += w.delete_range(RECORDS, prefix=pack(arn, shard), end=end)
            meta["TrimmedThrough"] = last
            _save_meta(w, meta)
    return dropped
