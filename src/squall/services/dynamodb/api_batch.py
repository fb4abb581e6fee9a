"""BatchGetItem, BatchWriteItem, TransactGetItems, TransactWriteItems.

A batch write and a transaction each run in one store transaction: every item of it is
written, or (on a failed condition or an invalid item) none is."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import cbor2
import orjson

from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext
from squall.services.dynamodb import itemstore
from squall.services.dynamodb.api_items import check_condition, clean_key, updated_item
from squall.services.dynamodb.catalog import Catalog
from squall.services.dynamodb.errors import ConditionFailed, validation
from squall.services.dynamodb.evaluate import project
from squall.services.dynamodb.expressions import Expressions, capacity_list, read_units, write_units
from squall.services.dynamodb.values import Item, clean_item, clean_item_sized, item_size
from squall.services.operations import operation
from squall.storage import Store, WriteTxn, pack

MAX_BATCH_GET = 100
MAX_BATCH_WRITE = 25
MAX_TRANSACT = 100
RESPONSE_BYTES = 16 * 1024 * 1024
TOKENS = "dynamodb.tokens"
TOKEN_WINDOW_S = 600.0
DUPLICATES = "Provided list of item keys contains duplicates"


class BatchApi:
    def __init__(self, store: Store, catalog: Catalog) -> None:
        self.store = store
        self.catalog = catalog

    @operation("BatchGetItem")
    def batch_get_item(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        requests = params["RequestItems"]
        if sum(len(req["Keys"]) for req in requests.values()) > MAX_BATCH_GET:
            raise validation("Too many items requested for the BatchGetItem call")
        plans = []
        for name, req in requests.items():
            exprs = Expressions(req)
            paths = exprs.projection()
            exprs.done()
            plans.append((name, req, paths))
        responses: dict[str, list[Item]] = {}
        unprocessed: dict[str, Any] = {}
        units: dict[str, float] = {}
        size = 0
        with self.store.read() as r:
            for name, req, paths in plans:
                table = self.catalog.get(r, ctx.account_id, ctx.region, name)
                rows = [itemstore.key_row(table, clean_key(k)) for k in req["Keys"]]
                if len(set(rows)) != len(rows):
                    raise validation(DUPLICATES)
                found = responses.setdefault(name, [])
                units.setdefault(name, 0.0)
                for raw_key, row in zip(req["Keys"], rows, strict=True):
                    if size > RESPONSE_BYTES:
                        unprocessed.setdefault(name, {**req, "Keys": []})["Keys"].append(raw_key)
                        continue
                    item = itemstore.load(r, row)
                    if item is not None:
                        size += item_size(item)
                        units[name] += read_units(item_size(item), bool(req.get("ConsistentRead")))
                        found.append(project(item, paths) if paths else item)
        out: dict[str, Any] = {"Responses": responses, "UnprocessedKeys": unprocessed}
        used = capacity_list(params, units, write=False)
        if used is not None:
            out["ConsumedCapacity"] = used
        return out

    @operation("BatchWriteItem")
    def batch_write_item(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        requests = params["RequestItems"]
        total = sum(len(v) for v in requests.values())
        if total > MAX_BATCH_WRITE:
            raise validation(
                "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must "
                "satisfy constraint: [Member must have length less than or equal to 25, Member must have length "
                "greater than or equal to 1]"
            )
        units: dict[str, float] = {}
        wants_capacity = (params.get("ReturnConsumedCapacity") or "NONE") != "NONE"
        stamp = self.catalog.stamp(self.store)
        with self.store.write() as w:
            for name, writes in requests.items():
                table = self.catalog.get(w, ctx.account_id, ctx.region, name, stamp=stamp)
                planned: dict[bytes, tuple[Item | None, int | None]] = {}
                for req in writes:
                    if req.get("PutRequest") and req.get("DeleteRequest"):
                        raise validation(
                            "A WriteRequest must contain exactly one of PutRequest or DeleteRequest"
                        )
                    if req.get("PutRequest"):
                        item, size = clean_item_sized(req["PutRequest"]["Item"])
                        itemstore.check_size(size)
                        row = itemstore.item_row(table, item)
                        new: Item | None = item
                        new_size: int | None = size
                    elif req.get("DeleteRequest"):
                        row = itemstore.key_row(table, clean_key(req["DeleteRequest"]["Key"]))
                        new, new_size = None, None
                    else:
                        raise validation(
                            "A WriteRequest must contain exactly one of PutRequest or DeleteRequest"
                        )
                    if row in planned:
                        raise validation(DUPLICATES)
                    planned[row] = (new, new_size)
                delta = itemstore.StatsDelta()
                for row, (new, new_size) in planned.items():
                    old = itemstore.load(w, row)
                    itemstore.write_item(w, table, row, old, new, delta, new_size=new_size)
                    if wants_capacity:
                        size = max(new_size or 0, item_size(old) if old else 0)
                        units[name] = units.get(name, 0.0) + write_units(size)
                itemstore.apply_stats(w, table, delta)
        out: dict[str, Any] = {"UnprocessedItems": {}}
        used = capacity_list(params, units, write=True)
        if used is not None:
            out["ConsumedCapacity"] = used
        return out

    @operation("TransactGetItems")
    def transact_get_items(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        out = []
        with self.store.read() as r:
            for entry in params["TransactItems"]:
                get = entry["Get"]
                exprs = Expressions(get)
                paths = exprs.projection()
                exprs.done()
                table = self.catalog.get(r, ctx.account_id, ctx.region, get["TableName"])
                item = itemstore.load(r, itemstore.key_row(table, clean_key(get["Key"])))
                out.append({} if item is None else {"Item": project(item, paths) if paths else item})
        return {"Responses": out}

    @operation("TransactWriteItems")
    def transact_write_items(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        entries = params["TransactItems"]
        if len(entries) > MAX_TRANSACT:
            raise validation(
                "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must "
                f"have length less than or equal to {MAX_TRANSACT}"
            )
        token = params.get("ClientRequestToken")
        digest = hashlib.sha256(orjson.dumps(entries, default=_b64, option=orjson.OPT_SORT_KEYS)).hexdigest()
        with self.store.write() as w:
            if token and self._replayed(w, ctx, token, digest):
                return {}
            reasons: list[dict[str, Any]] = []
            seen: set[bytes] = set()
            for entry in entries:
                reasons.append(self._transact_one(w, ctx, entry, seen))
            if any(r["Code"] != "None" for r in reasons):
                codes = ", ".join(r["Code"] for r in reasons)
                raise ServiceError(
                    "TransactionCanceledException",
                    f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
                    400,
                    fields={"CancellationReasons": reasons},
                )
        return {}

    def _replayed(self, w: WriteTxn, ctx: RequestContext, token: str, digest: str) -> bool:
        key = pack(ctx.account_id, ctx.region, token)
        raw = w.get(TOKENS, key)
        now = time.time()
        if raw is not None:
            seen_digest, at = cbor2.loads(raw)
            if now - at < TOKEN_WINDOW_S:
                if seen_digest != digest:
                    raise ServiceError(
                        "IdempotentParameterMismatchException",
                        "Specified idempotency token was used with different request parameters within the "
                        "10 minute idempotency window",
                        400,
                    )
                return True
        w.put(TOKENS, key, cbor2.dumps((digest, now)))
        return False

    def _transact_one(
        self, w: WriteTxn, ctx: RequestContext, entry: dict[str, Any], seen: set[bytes]
    ) -> dict[str, Any]:
        present = [(k, v) for k, v in entry.items() if v is not None]
        if len(present) != 1:
            raise validation("TransactItems can only contain one of Check, Put, Update or Delete")
        verb, req = present[0]
        exprs = Expressions(req)
        cond = exprs.condition("ConditionExpression")
        actions = exprs.update() if verb == "Update" else None
        exprs.done()
        table = self.catalog.get(w, ctx.account_id, ctx.region, req["TableName"])
        if verb == "Put":
            item: Item | None = clean_item(req["Item"])
            assert item is not None
            itemstore.check_item_size(item)
            row = itemstore.item_row(table, item)
        else:
            key = clean_key(req["Key"])
            row = itemstore.key_row(table, key)
        if row in seen:
            raise validation("Transaction request cannot include multiple operations on one item")
        seen.add(row)
        old = itemstore.load(w, row)
        try:
            check_condition(cond, old)
        except ConditionFailed:
            reason: dict[str, Any] = {
                "Code": "ConditionalCheckFailed",
                "Message": "The conditional request failed",
            }
            if req.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and old is not None:
                reason["Item"] = old
            return reason
        if verb == "Update":
            item = updated_item(table, key, old, actions or [])
        elif verb == "Delete":
            item = None
        elif verb == "ConditionCheck":
            return {"Code": "None"}
        itemstore.write_item(w, table, row, old, item)
        return {"Code": "None"}


def _b64(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    raise TypeError
