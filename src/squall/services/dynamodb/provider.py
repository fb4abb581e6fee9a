"""DynamoDB (JSON 1.0): tables, items, queries, batches and transactions over the KV store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from squall.lib.tasks import Background
from squall.services.base import RequestContext, ServiceProvider
from squall.services.dynamodb.api_batch import BatchApi
from squall.services.dynamodb.api_items import ItemsApi
from squall.services.dynamodb.api_partiql import PartiqlApi
from squall.services.dynamodb.api_query import QueryApi
from squall.services.dynamodb.api_tables import TablesApi
from squall.services.dynamodb.catalog import Catalog
from squall.services.dynamodb.errors import OtherAccountTable, access_denied
from squall.services.dynamodb.ports import StreamReader
from squall.services.dynamodb.sweep import Sweeper
from squall.services.operations import Operation
from squall.storage import Store


class DynamoDBProvider(ServiceProvider):
    service = "dynamodb"
    #: Item operations need no in-process state of the primary: every server process serves
    #: them on the shared database (table operations stay with the primary, which runs their
    #: background work: status, TTL sweeps, stream trimming).
    worker_operations = frozenset(
        {
            "GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems",
            "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems",
            "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction",
        }
    )  # fmt: skip

    def __init__(self, store: Store, ttl_interval: float = 30.0) -> None:
        catalog = Catalog()
        #: The table streams other services read (ports.StreamRecords).
        self.streams = StreamReader(store)
        #: TTL deletions and the stream records' 24-hour trim, every `ttl_interval` seconds.
        self.sweeper = Sweeper(store, catalog, ttl_interval)
        super().__init__(
            TablesApi(store, catalog),
            ItemsApi(store, catalog),
            QueryApi(store, catalog),
            BatchApi(store, catalog),
            PartiqlApi(store, catalog),
        )

    async def run(self, op: Operation, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        try:
            return await super().run(op, ctx, params)
        except OtherAccountTable as e:  # another account's table ARN: the caller's AccessDenied
            raise access_denied(ctx.principal.caller_arn, op.action, e.arn) from None

    def background(self) -> Sequence[Background]:
        return (self.sweeper,)
