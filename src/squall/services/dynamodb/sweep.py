"""The background sweep: TTL deletions and the 24-hour trim of stream records.

Every `interval` seconds, each table with TimeToLive enabled loses the items whose TTL attribute
(a Number, epoch seconds) is in the past, through `itemstore.write_item` with the service's
identity (so the REMOVE record carries it, as on AWS). Items whose TTL lies more than five years
in the past are kept, as AWS does. Then stream records older than 24 hours are trimmed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal, InvalidOperation

from squall.lib.tasks import Started
from squall.services.dynamodb import itemstore, streams
from squall.services.dynamodb.catalog import TABLES, Catalog
from squall.services.dynamodb.tables import Table
from squall.services.dynamodb.values import Item
from squall.storage import Store, unpack

log = logging.getLogger(__name__)

FIVE_YEARS = 5 * 365 * 24 * 3600
BATCH = 100


def expired(item: Item, attribute: str, now: float) -> bool:
    value = item.get(attribute)
    if not isinstance(value, dict) or "N" not in value:
        return False
    try:
        when = Decimal(value["N"])
    except InvalidOperation:
        return False
    return now - FIVE_YEARS <= when < Decimal(now)


class Sweeper:
    def __init__(self, store: Store, catalog: Catalog, interval: float) -> None:
        self.store = store
        self.catalog = catalog
        self.interval = interval

    async def run(self, started: Started) -> None:
        """A sweep every `interval` seconds until cancelled (a `lib.tasks.Background`)."""
        started()
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.sweep_once(time.time())
            except Exception:  # keep sweeping: one bad round must not stop TTL for good
                log.exception("dynamodb sweep failed")

    def _ttl_tables(self) -> list[Table]:
        with self.store.read() as r:
            keys = [unpack(k) for k, _ in r.scan(TABLES)]
            found = [self.catalog.find(r, str(a), str(g), str(n)) for a, g, n in keys]
        return [t for t in found if t is not None and t.desc.get("_Ttl")]

    def sweep_once(self, now: float) -> int:
        """One round; returns how many items were deleted."""
        deleted = 0
        for table in self._ttl_tables():
            deleted += self._sweep_table(table, now)
        with self.store.write() as w:
            streams.trim(w, now)
        return deleted

    def _sweep_table(self, table: Table, now: float) -> int:
        attribute = str(table.desc["_Ttl"])
        with self.store.read() as r:
            rows = [
                row for row, item in itemstore.rows(r, itemstore.base(table)) if expired(item, attribute, now)
            ]
        deleted = 0
        for i in range(0, len(rows), BATCH):
            with self.store.write() as w:
                account, region = table.scope
                current = self.catalog.find(w, account, region, table.name)
                if current is None or current.id != table.id or current.desc.get("_Ttl") != attribute:
                    return deleted
                for row in rows[i : i + BATCH]:
                    old = itemstore.load(w, row)
                    if old is not None and expired(old, attribute, now):
                        itemstore.write_item(w, current, row, old, None, identity=streams.SERVICE_IDENTITY)
                        deleted += 1
        return deleted
