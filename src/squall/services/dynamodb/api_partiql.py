"""PartiQL: ExecuteStatement, BatchExecuteStatement, ExecuteTransaction over the item paths.

SELECT with equalities on the whole primary key reads one item; with the partition key, one
partition; otherwise the table (or index) is scanned; the whole WHERE clause then filters.
UPDATE and DELETE need equalities on every key attribute; the rest of their WHERE clause is a
condition (ConditionalCheckFailedException when false). INSERT of an existing key is
DuplicateItemException. Every write goes through `itemstore.write_item`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext
from squall.services.dynamodb import itemstore
from squall.services.dynamodb.api_items import updated_item
from squall.services.dynamodb.catalog import Catalog
from squall.services.dynamodb.errors import conditional_failed, not_found, validation
from squall.services.dynamodb.evaluate import matches, project
from squall.services.dynamodb.partiql import Statement, key_equalities, parse
from squall.services.dynamodb.tables import Table
from squall.services.dynamodb.values import Item, clean_item, sort_key
from squall.services.operations import operation
from squall.storage import ReadTxn, Store, WriteTxn

NO_KEY = "Where clause does not contain a mandatory equality on all key attributes"
MAX_PAGE = 1 << 20


def duplicate() -> ServiceError:
    return ServiceError("DuplicateItemException", "Duplicate primary key exists in table", 400)


class PartiqlApi:
    def __init__(self, store: Store, catalog: Catalog) -> None:
        self.store = store
        self.catalog = catalog

    def _table(self, r: ReadTxn, ctx: RequestContext, st: Statement) -> Table:
        table = self.catalog.find(r, ctx.account_id, ctx.region, st.table)
        if table is None or (st.index is not None and st.index not in table.indexes):
            raise not_found()
        return table

    @operation("ExecuteStatement")
    def execute_statement(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        st = parse(params["Statement"], params.get("Parameters"))
        if st.verb == "SELECT":
            return self._select(ctx, st, params.get("Limit"), params.get("NextToken"))
        with self.store.write() as w:
            self._write(w, ctx, st)
        return {"Items": []}

    @operation("BatchExecuteStatement")
    def batch_execute_statement(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        statements = params["Statements"]
        if not 1 <= len(statements) <= 25:
            raise validation("Member must have length less than or equal to 25")
        responses: list[dict[str, Any]] = []
        for entry in statements:
            try:
                st = parse(entry["Statement"], entry.get("Parameters"))
                out: dict[str, Any] = {"TableName": st.table}
                if st.verb == "SELECT":
                    items = self._select(ctx, st, None, None)["Items"]
                    if items:
                        out["Item"] = items[0]
                else:
                    with self.store.write() as w:
                        self._write(w, ctx, st)
            except ServiceError as exc:
                code = exc.code.removesuffix("Exception")
                code = {"Validation": "ValidationError"}.get(code, code)
                out = {"Error": {"Code": code, "Message": exc.message}}
            responses.append(out)
        return {"Responses": responses}

    @operation("ExecuteTransaction")
    def execute_transaction(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        statements = [parse(s["Statement"], s.get("Parameters")) for s in params["TransactStatements"]]
        if not 1 <= len(statements) <= 100:
            raise validation("Member must have length less than or equal to 100")
        reads = {s.verb == "SELECT" for s in statements}
        if len(reads) > 1:
            raise validation("Transaction must contain either only reads or only writes")
        if reads == {True}:
            return {
                "Responses": [
                    {"Item": i} for st in statements for i in self._select(ctx, st, 1, None)["Items"][:1]
                ]
            }
        reasons: list[dict[str, Any]] = []
        failed = False
        try:
            with self.store.write() as w:
                for st in statements:
                    try:
                        self._write(w, ctx, st)
                        reasons.append({"Code": "None"})
                    except ServiceError as exc:
                        failed = True
                        reasons.append({"Code": exc.code.removesuffix("Exception"), "Message": exc.message})
                if failed:
                    raise _Rollback
        except _Rollback:
            codes = ", ".join(r["Code"] for r in reasons)
            raise ServiceError(
                "TransactionCanceledException",
                f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
                400,
                fields={"CancellationReasons": reasons},
            ) from None
        return {"Responses": [{} for _ in statements]}

    # -- SELECT ---------------------------------------------------------------------------------

    def _select(self, ctx: RequestContext, st: Statement, limit: Any, token: Any) -> dict[str, Any]:
        with self.store.read() as r:
            table = self._table(r, ctx, st)
            shape = table.shape(st.index)
            eq = key_equalities(st.where)
            prefix = itemstore.base(table, st.index or "")
            if shape.hash in eq:
                prefix += sort_key(eq[shape.hash])
                if shape.range is not None and shape.range in eq and not st.index:
                    prefix += sort_key(eq[shape.range])
            after = _decode(token) if token else None
            items: list[Item] = []
            last: bytes | None = None
            size = 0
            for row, item in itemstore.rows(r, prefix, after=after):
                if (limit is not None and len(items) >= int(limit)) or size > MAX_PAGE:
                    break
                last = row
                if st.where is None or matches(item, st.where):
                    items.append(project(item, st.projection) if st.projection else item)
                    size += len(str(item))
            else:
                last = None
        out: dict[str, Any] = {"Items": items}
        if last is not None:
            out["NextToken"] = base64.b64encode(last).decode()
        return out

    # -- writes ---------------------------------------------------------------------------------

    def _write(self, w: WriteTxn, ctx: RequestContext, st: Statement) -> None:
        table = self._table(w, ctx, st)
        if st.index is not None:
            raise validation("Index cannot be used in DML statements")
        if st.verb == "INSERT":
            assert st.item is not None
            item = clean_item(st.item)
            itemstore.check_item_size(item)
            row = itemstore.item_row(table, item)
            if itemstore.load(w, row) is not None:
                raise duplicate()
            itemstore.write_item(w, table, row, None, item)
            return
        eq = key_equalities(st.where)
        if any(n not in eq for n in table.key.names):
            raise validation(NO_KEY)
        key = {n: eq[n] for n in table.key.names}
        row = itemstore.key_row(table, key)
        old = itemstore.load(w, row)
        if st.verb == "DELETE":
            if old is None:
                return
            if st.where is not None and not matches(old, st.where):
                raise conditional_failed()
            itemstore.write_item(w, table, row, old, None)
            return
        if old is None or (st.where is not None and not matches(old, st.where)):
            raise conditional_failed()
        itemstore.write_item(w, table, row, old, updated_item(table, key, old, st.actions))


class _Rollback(Exception):
    pass


def _decode(token: str) -> bytes:
    try:
        return base64.b64decode(token, validate=True)
    except (ValueError, binascii.Error):
        raise validation("Invalid NextToken") from None
