"""Items in the ordered KV store (see README.md "Storage").

Row keys in namespace `dynamodb.items`:

    pack(account, region, table_id, "")    + enc(hash) [+ enc(range)]                      the table
    pack(account, region, table_id, index) + enc(ix_hash) [+ enc(ix_range)] + enc(table key) an index

`enc` is `values.sort_key` (S as UTF-8, N order-preserving decimal, B bytes, each packed), so a
partition is one contiguous key range and, inside it, rows sort as DynamoDB sorts. Index rows
hold the projected item and are written in the same transaction as the item.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import cbor2

from squall.services.dynamodb import streams
from squall.services.dynamodb.errors import validation
from squall.services.dynamodb.tables import KeyShape, Table
from squall.services.dynamodb.values import (
    INVALID,
    MAX_HASH,
    MAX_ITEM,
    MAX_RANGE,
    PLAIN_INT,
    Item,
    Value,
    item_size,
    items_equal,
    kind,
    sort_key,
    value_size,
)
from squall.storage import ReadTxn, WriteTxn, pack

ITEMS = "dynamodb.items"
STATS = "dynamodb.stats"
SCHEMA_MISMATCH = "The provided key element does not match the schema"


_BASES: dict[tuple[str, str], bytes] = {}


def base(table: Table, index: str = "") -> bytes:
    found = _BASES.get((table.id, index))
    if found is None:
        account, region = table.scope
        found = _BASES[(table.id, index)] = pack(account, region, table.id, index)
    return found


def check_key_value(shape: KeyShape, name: str, value: Value, *, index: bool = False) -> None:
    expected = shape.type_of(name)
    actual = kind(value)
    if actual != expected:
        if index:
            raise validation(
                f"{INVALID}Type mismatch for Index Key {name} Expected: {expected} Actual: {actual} "
                f"IndexName: {shape.index}"
            )
        raise validation(f"{INVALID}Type mismatch for key {name} expected: {expected} actual: {actual}")
    if actual in ("S", "B") and len(value[actual]) == 0:
        empty = "string" if actual == "S" else "binary"
        if index:
            raise validation(
                "One or more parameter values are not valid. A value specified for a secondary index key is not "
                f"supported. The AttributeValue for a key attribute cannot contain an empty {empty} value. "
                f"IndexName: {shape.index}, IndexKey: {name}"
            )
        raise validation(
            "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain "
            f"an empty {empty} value. Key: {name}"
        )
    size = value_size(value)
    if name == shape.hash and size > MAX_HASH:
        raise validation(f"{INVALID}Size of hashkey has exceeded the maximum size limit of{MAX_HASH} bytes")
    if name == shape.range and size > MAX_RANGE:
        raise validation(
            f"{INVALID}Aggregated size of all range keys has exceeded the size limit of {MAX_RANGE} bytes"
        )


def encode_key(shape: KeyShape, item: Item) -> bytes:
    out = sort_key(item[shape.hash])
    if shape.range is not None:
        out += sort_key(item[shape.range])
    return out


def _plain_key(shape: KeyShape, values: dict[str, Any]) -> bytes | None:
    """`encode_key` of `values` when each key value is a plain valid one (ASCII S, integer N,
    B within the size limits); None sends the caller down the checking path for the rest."""
    out = b""
    for name, expected, limit in shape.plan:
        value = values.get(name)
        if type(value) is not dict or len(value) != 1:
            return None
        v = value.get(expected)
        if expected == "S":
            if type(v) is not str or not v or len(v) > limit or not v.isascii() or "\x00" in v:
                return None
            out += b"\x02" + v.encode() + b"\x00"  # pack(v), unescaped: no NUL inside
        elif expected == "N":
            if type(v) is not str or not PLAIN_INT.fullmatch(v):
                return None
            out += sort_key(value)
        elif type(v) is bytes and 0 < len(v) <= limit:
            out += sort_key(value)
        else:
            return None
    return out


def item_row(table: Table, item: Item) -> bytes:
    """The row key of an item to be written (PutItem's checks and messages)."""
    shape = table.key
    plain = _plain_key(shape, item)
    if plain is not None:
        return base(table) + plain
    for name in shape.names:
        if name not in item:
            raise validation(f"{INVALID}Missing the key {name} in the item")
        check_key_value(shape, name, item[name])
    return base(table) + encode_key(shape, item)


def key_row(table: Table, key: dict[str, Any]) -> bytes:
    """The row key a `Key` parameter names (GetItem/UpdateItem/DeleteItem's checks)."""
    shape = table.key
    if len(key) == len(shape.types):
        plain = _plain_key(shape, key)
        if plain is not None:
            return base(table) + plain
    if set(key) != set(shape.names) or any(kind(key[n]) != shape.type_of(n) for n in shape.names):
        raise validation(SCHEMA_MISMATCH)
    for name in shape.names:
        check_key_value(shape, name, key[name])
    return base(table) + encode_key(shape, key)


def key_of(table: Table, item: Item) -> Item:
    return {n: item[n] for n in table.key.names}


def index_rows(table: Table, item: Item) -> dict[str, bytes]:
    """The index row key of `item` in each index it belongs to (sparse: absent keys, no row)."""
    out: dict[str, bytes] = {}
    if not table.indexes:
        return out
    primary = encode_key(table.key, item)
    for name, (shape, _, _) in table.indexes.items():
        if all(n in item for n in shape.names):
            plain = _plain_key(shape, item)
            if plain is None:
                for n in shape.names:
                    check_key_value(shape, n, item[n], index=True)
                plain = encode_key(shape, item)
            out[name] = base(table, name) + plain + primary
    return out


def check_item_size(item: Item) -> int:
    return check_size(item_size(item))


def check_size(size: int) -> int:
    if size > MAX_ITEM:
        raise validation("Item size has exceeded the maximum allowed size")
    return size


def load(r: ReadTxn, row: bytes) -> Item | None:
    raw = r.get(ITEMS, row)
    return None if raw is None else cbor2.loads(raw)


class StatsDelta:
    """Item count and size changes of one table, gathered over several writes of one
    transaction and applied once (`apply_stats`)."""

    def __init__(self) -> None:
        self.count = 0
        self.size = 0

    def add(self, old: Item | None, new: Item | None, new_size: int | None = None) -> None:
        self.count += (new is not None) - (old is not None)
        if new is not None:
            self.size += item_size(new) if new_size is None else new_size
        if old is not None:
            self.size -= item_size(old)


def write_item(
    w: WriteTxn,
    table: Table,
    row: bytes,
    old: Item | None,
    new: Item | None,
    delta: StatsDelta | None = None,
    identity: dict[str, str] | None = None,
    new_size: int | None = None,
) -> bool:
    """The one function every item write goes through, inside the caller's write transaction:
    the item row, its index rows and the table's count/size figures change together (the
    figures through `delta` when the caller gathers several writes, else at once).

    Returns False, writing nothing, when `new` equals `old` (a write that changes nothing).

    When the table's stream is enabled, its record (INSERT/MODIFY/REMOVE, with `identity` as
    `userIdentity` if given: the TTL sweep's) is appended in this same transaction.
    `new_size`, when the caller has it, is `item_size(new)`.
    """
    if items_equal(old, new):
        return False
    old_ix = index_rows(table, old) if old is not None else {}
    new_ix = index_rows(table, new) if new is not None else {}
    for name, ixrow in old_ix.items():
        if new_ix.get(name) != ixrow:
            w.delete(ITEMS, ixrow)
    if new is None:
        w.delete(ITEMS, row)
    else:
        w.put(ITEMS, row, cbor2.dumps(new))
        for name, ixrow in new_ix.items():
            w.put(ITEMS, ixrow, cbor2.dumps(table.projected(name, new)))
    if delta is not None:
        delta.add(old, new, new_size)
    else:
        one = StatsDelta()
        one.add(old, new, new_size)
        apply_stats(w, table, one)
    if table.desc.get("StreamSpecification", {}).get("StreamEnabled"):
        streams.append(w, table, old, new, identity)
    return True


def apply_stats(w: WriteTxn, table: Table, delta: StatsDelta) -> None:
    if not delta.count and not delta.size:
        return
    key = pack(table.id)
    raw = w.get(STATS, key)
    count, size = cbor2.loads(raw) if raw is not None else (0, 0)
    w.put(STATS, key, cbor2.dumps((count + delta.count, size + delta.size)))


def stats(r: ReadTxn, table: Table) -> tuple[int, int]:
    raw = r.get(STATS, pack(table.id))
    if raw is None:
        return 0, 0
    count, size = cbor2.loads(raw)
    return int(count), int(size)


def drop(w: WriteTxn, table: Table) -> None:
    account, region = table.scope
    w.delete_range(ITEMS, prefix=pack(account, region, table.id))
    w.delete(STATS, pack(table.id))


def drop_index(w: WriteTxn, table: Table, index: str) -> None:
    w.delete_range(ITEMS, prefix=base(table, index))


def rows(
    r: ReadTxn,
    prefix: bytes,
    *,
    start: bytes | None = None,
    end: bytes | None = None,
    forward: bool = True,
    after: bytes | None = None,
) -> Iterator[tuple[bytes, Item]]:
    """Rows under `prefix` within [start, end), in order (or reversed), strictly after the row
    `after` in that order (ExclusiveStartKey)."""
    if after is not None:
        if forward:
            successor = after + b"\x00"
            start = successor if start is None or successor > start else start
        else:
            end = after if end is None or after < end else end
    for k, v in r.scan(ITEMS, prefix=prefix, start=start, end=end, reverse=not forward):
        yield k, dict(cbor2.loads(v))
