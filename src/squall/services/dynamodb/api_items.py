"""Single-item operations: PutItem, GetItem, UpdateItem, DeleteItem."""

from __future__ import annotations

from typing import Any

from squall.protocol.types import Verbatim
from squall.services.base import RequestContext
from squall.services.dynamodb import ast, itemstore
from squall.services.dynamodb.catalog import Catalog
from squall.services.dynamodb.errors import ConditionFailed, conditional_failed, validation
from squall.services.dynamodb.evaluate import matches, project
from squall.services.dynamodb.expressions import Expressions, capacity
from squall.services.dynamodb.tables import Table
from squall.services.dynamodb.update import apply
from squall.services.dynamodb.values import INVALID, Item, clean, clean_item_sized, item_size
from squall.services.operations import operation
from squall.storage import Store

_RETURN_VALUES = {
    "PutItem": ("NONE", "ALL_OLD"),
    "DeleteItem": ("NONE", "ALL_OLD"),
    "UpdateItem": ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"),
}


def return_values(params: dict[str, Any], op: str) -> str:
    mode = params.get("ReturnValues") or "NONE"
    if mode not in _RETURN_VALUES[op]:
        raise validation("Return values set to invalid value")
    return str(mode)


def clean_key(raw: dict[str, Any]) -> Item:
    return {n: clean(v) for n, v in raw.items()}


def check_condition(cond: ast.Condition | None, old: Item | None) -> None:
    if cond is not None and not matches(old, cond):
        raise ConditionFailed(old)


def updated_item(table: Table, key: Item, old: Item | None, actions: list[ast.Action]) -> Item:
    """UpdateItem's new item (key attributes may not be touched)."""
    for action in actions:
        top = action.path.parts[0]
        if top in table.key.names:
            raise validation(f"{INVALID}Cannot update attribute {top}. This attribute is part of the key")
    new = apply(old if old is not None else dict(key), actions)
    itemstore.check_item_size(new)
    return new


class ItemsApi:
    def __init__(self, store: Store, catalog: Catalog) -> None:
        self.store = store
        self.catalog = catalog

    def _failed(self, params: dict[str, Any], exc: ConditionFailed) -> Exception:
        wants = params.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
        return conditional_failed(exc.item if wants and exc.item is not None else None)

    @operation("PutItem")
    def put_item(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        mode = return_values(params, "PutItem")
        exprs = Expressions(params)
        cond = exprs.condition("ConditionExpression")
        exprs.done()
        item, size = clean_item_sized(params["Item"])
        itemstore.check_size(size)
        stamp = self.catalog.stamp(self.store)
        try:
            with self.store.write() as w:
                table = self.catalog.get(w, ctx.account_id, ctx.region, params["TableName"], stamp=stamp)
                row = itemstore.item_row(table, item)
                old = itemstore.load(w, row)
                check_condition(cond, old)
                itemstore.write_item(w, table, row, old, item, new_size=size)
        except ConditionFailed as exc:
            raise self._failed(params, exc) from None
        out: dict[str, Any] = {}
        if mode == "ALL_OLD" and old is not None:
            out["Attributes"] = old
        used = capacity(params, table.name, lambda: max(size, item_size(old) if old else 0), write=True)
        if used:
            out["ConsumedCapacity"] = used
        return out

    @operation("GetItem")
    def get_item(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        exprs = Expressions(params)
        paths = exprs.projection()
        exprs.done()
        key = clean_key(params["Key"])
        stamp = self.catalog.stamp(self.store)
        with self.store.read() as r:
            table = self.catalog.get(r, ctx.account_id, ctx.region, params["TableName"], stamp=stamp)
            item = itemstore.load(r, itemstore.key_row(table, key))
        out: dict[str, Any] = {}
        if item is not None:
            out["Item"] = Verbatim(project(item, paths) if paths else item)
        used = capacity(
            params,
            table.name,
            lambda: item_size(item) if item else 0,
            consistent=bool(params.get("ConsistentRead")),
        )
        if used:
            out["ConsumedCapacity"] = used
        return out

    @operation("DeleteItem")
    def delete_item(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        mode = return_values(params, "DeleteItem")
        exprs = Expressions(params)
        cond = exprs.condition("ConditionExpression")
        exprs.done()
        key = clean_key(params["Key"])
        stamp = self.catalog.stamp(self.store)
        try:
            with self.store.write() as w:
                table = self.catalog.get(w, ctx.account_id, ctx.region, params["TableName"], stamp=stamp)
                row = itemstore.key_row(table, key)
                old = itemstore.load(w, row)
                check_condition(cond, old)
                if old is not None:
                    itemstore.write_item(w, table, row, old, None)
        except ConditionFailed as exc:
            raise self._failed(params, exc) from None
        out: dict[str, Any] = {}
        if mode == "ALL_OLD" and old is not None:
            out["Attributes"] = old
        used = capacity(params, table.name, lambda: item_size(old) if old else 0, write=True)
        if used:
            out["ConsumedCapacity"] = used
        return out

    @operation("UpdateItem")
    def update_item(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        mode = return_values(params, "UpdateItem")
        exprs = Expressions(params)
        cond = exprs.condition("ConditionExpression")
        actions = exprs.update() or []
        exprs.done()
        key = clean_key(params["Key"])
        stamp = self.catalog.stamp(self.store)
        try:
            with self.store.write() as w:
                table = self.catalog.get(w, ctx.account_id, ctx.region, params["TableName"], stamp=stamp)
                row = itemstore.key_row(table, key)
                old = itemstore.load(w, row)
                check_condition(cond, old)
                new = updated_item(table, key, old, actions)
                itemstore.write_item(w, table, row, old, new)
        except ConditionFailed as exc:
            raise self._failed(params, exc) from None
        out: dict[str, Any] = {}
        paths = [a.path for a in actions]
        if mode == "ALL_OLD" and old is not None:
            out["Attributes"] = old
        elif mode == "ALL_NEW":
            out["Attributes"] = new
        elif mode == "UPDATED_OLD" and old is not None:
            out["Attributes"] = project(old, paths)
        elif mode == "UPDATED_NEW":
            out["Attributes"] = project(new, paths)
        if "Attributes" in out and not out["Attributes"]:
            del out["Attributes"]
        used = capacity(
            params, table.name, lambda: max(item_size(new), item_size(old) if old else 0), write=True
        )
        if used:
            out["ConsumedCapacity"] = used
        return out
