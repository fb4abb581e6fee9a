"""Where table descriptions live: namespace `dynamodb.tables`, key pack(account, region, name),
value the stored description (JSON). Parsed `Table` objects are cached by their stored bytes, and
(for callers passing a `stamp`) kept while the store's change counter of `dynamodb.tables` stays put,
which spares the item operations the read of the description."""

from __future__ import annotations

from typing import Any

import orjson

from squall.services.dynamodb import itemstore, streams
from squall.services.dynamodb.errors import OtherAccountTable, not_found
from squall.services.dynamodb.tables import Table
from squall.storage import ReadTxn, Store, WriteTxn, pack, unpack

TABLES = "dynamodb.tables"


class Catalog:
    def __init__(self) -> None:
        self._cache: dict[bytes, tuple[bytes, Table]] = {}
        self._memo: dict[tuple[str, str, str], tuple[int, Table]] = {}

    @staticmethod
    def stamp(store: Store) -> int | None:
        """The change count of the descriptions, to read before opening the transaction that
        passes it to `find`/`get` (None when the store does not count changes)."""
        changes = getattr(store, "changes", None)  # a ChangeCounter (checked without isinstance: cheaper)
        return int(changes(TABLES)) if changes is not None else None

    def find(
        self, r: ReadTxn, account: str, region: str, name: str, *, stamp: int | None = None
    ) -> Table | None:
        """The table's description as `r` sees it. With a `stamp` (see `stamp`) the answer may come
        from memory; pass none inside a transaction that itself writes descriptions."""
        if stamp is not None:
            memo = self._memo.get((account, region, name))
            if memo is not None and memo[0] == stamp:
                return memo[1]
        key = pack(account, region, name)
        raw = r.get(TABLES, key)
        if raw is None:
            return None
        hit = self._cache.get(key)
        if hit is not None and hit[0] == raw:
            table = hit[1]
        else:
            table = Table(orjson.loads(raw))
            self._cache[key] = (raw, table)
        if stamp is not None:
            self._memo[(account, region, name)] = (stamp, table)
        return table

    def get(
        self,
        r: ReadTxn,
        account: str,
        region: str,
        name: str,
        *,
        detailed: bool = False,
        stamp: int | None = None,
    ) -> Table:
        """The table or ResourceNotFoundException (the table operations name the table in the
        message, item operations do not, as on AWS)."""
        table = self.find(r, account, region, name, stamp=stamp)
        if table is None and name.startswith("arn:"):
            table = self._by_name_arn(r, account, region, name, stamp)
        if table is None:
            raise not_found(f"Requested resource not found: Table: {name} not found" if detailed else None)
        return table

    def _by_name_arn(
        self, r: ReadTxn, account: str, region: str, arn: str, stamp: int | None
    ) -> Table | None:
        """A table ARN given as `TableName` (looked at only when no table has that name, so a
        plain name costs nothing more): the caller's own table; `OtherAccountTable` for another
        account's (no resource policy can grant it in Squall)."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[2] != "dynamodb" or not parts[5].startswith("table/"):
            return None
        if parts[4] != account:
            raise OtherAccountTable(arn)
        if parts[3] != region:
            return None
        return self.find(r, account, region, parts[5][len("table/") :], stamp=stamp)

    def by_arn(self, r: ReadTxn, account: str, region: str, arn: str) -> Table:
        name = arn.split(":table/", 1)[-1].split("/", 1)[0]
        owner = arn.split(":")[4] if arn.count(":") >= 5 else account
        if owner != account and ":table/" in arn:
            raise OtherAccountTable(arn)
        table = self.find(r, account, region, name) if ":table/" in arn else None
        if table is None or table.arn != arn:
            raise not_found(f"Requested resource not found: ResourcArn: {arn} not found")
        return table

    def save(self, w: WriteTxn, desc: dict[str, Any]) -> Table:
        table = Table(desc)
        account, region = table.scope
        old = self.find(w, account, region, table.name)
        w.put(TABLES, pack(account, region, table.name), orjson.dumps(desc))
        self._memo.pop((account, region, table.name), None)
        streams.sync(w, old, table)
        return table

    def delete(self, w: WriteTxn, table: Table) -> None:
        account, region = table.scope
        w.delete(TABLES, pack(account, region, table.name))
        self._memo.pop((account, region, table.name), None)
        itemstore.drop(w, table)
        streams.sync(w, table, None)

    def names(self, r: ReadTxn, account: str, region: str, after: str | None, limit: int) -> list[str]:
        prefix = pack(account, region)
        start = pack(account, region, after) + b"\x00" if after else None
        return [str(unpack(k)[2]) for k, _ in r.scan(TABLES, prefix=prefix, start=start, limit=limit)]


def describe(r: ReadTxn, table: Table, status: str | None = None) -> dict[str, Any]:
    """The TableDescription DescribeTable returns (internal `_` fields dropped, figures added)."""
    desc = {k: v for k, v in table.desc.items() if not k.startswith("_")}
    count, size = itemstore.stats(r, table)
    desc["ItemCount"] = count
    desc["TableSizeBytes"] = size
    if status:
        desc["TableStatus"] = status
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if kind in desc:
            out = []
            for ix in desc[kind]:
                n = r.count(itemstore.ITEMS, prefix=itemstore.base(table, ix["IndexName"]))
                out.append({**ix, "ItemCount": n, "IndexSizeBytes": size * n // count if count else 0})
            desc[kind] = out
    return desc
