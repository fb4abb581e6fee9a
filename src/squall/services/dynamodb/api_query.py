"""Query and Scan: the key condition becomes one key range of the table or index (see
itemstore), read in order; Limit, the 1 MB page, filters, projections and paging on top."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from squall.protocol.types import Verbatim
from squall.services.base import RequestContext
from squall.services.dynamodb import ast, itemstore
from squall.services.dynamodb.api_items import clean_key
from squall.services.dynamodb.catalog import Catalog
from squall.services.dynamodb.errors import validation
from squall.services.dynamodb.evaluate import matches, project
from squall.services.dynamodb.expressions import Expressions, capacity
from squall.services.dynamodb.tables import KeyShape, Table
from squall.services.dynamodb.values import INVALID, Item, item_size, kind, sort_key
from squall.services.operations import operation
from squall.storage import ReadTxn, Store
from squall.storage.keys import prefix_end

PAGE_BYTES = 1024 * 1024
_FLIP = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


@dataclass
class KeyRange:
    prefix: bytes
    start: bytes | None = None
    end: bytes | None = None


def _conjuncts(node: ast.Condition) -> list[ast.Condition]:
    if isinstance(node, ast.Logical):
        if node.op != "AND":
            raise validation(f"Invalid operator used in KeyConditionExpression: {node.op}")
        return _conjuncts(node.left) + _conjuncts(node.right)
    if isinstance(node, ast.Not):
        raise validation("Invalid operator used in KeyConditionExpression: NOT")
    return [node]


def _key_term(node: ast.Condition) -> tuple[str, str, list[ast.Literal]]:
    """(attribute, operator, literal operands) of one key condition."""
    if isinstance(node, ast.Compare):
        left, right, op = node.left, node.right, node.op
        if isinstance(left, ast.Literal) and isinstance(right, ast.Path):
            left, right, op = right, left, _FLIP.get(op, op)
        if op == "<>":
            raise validation("Unsupported operator on KeyConditionExpression: operator: <>")
        if isinstance(left, ast.Path) and isinstance(right, ast.Literal) and len(left.parts) == 1:
            return str(left.parts[0]), op, [right]
    elif isinstance(node, ast.Between):
        operand, low, high = node.operand, node.low, node.high
        literals = isinstance(low, ast.Literal) and isinstance(high, ast.Literal)
        if isinstance(operand, ast.Path) and len(operand.parts) == 1 and literals:
            return str(operand.parts[0]), "BETWEEN", [low, high]  # type: ignore[list-item]
    elif isinstance(node, ast.Function):
        if node.name != "begins_with":
            raise validation(f"Invalid operator used in KeyConditionExpression: {node.name}")
        target, arg = node.args
        if isinstance(target, ast.Path) and len(target.parts) == 1 and isinstance(arg, ast.Literal):
            return str(target.parts[0]), "begins_with", [arg]
    elif isinstance(node, ast.In):
        raise validation("Invalid operator used in KeyConditionExpression: IN")
    raise validation("Query key condition not supported")


def key_range(base: bytes, shape: KeyShape, cond: ast.Condition) -> KeyRange:
    terms = [_key_term(c) for c in _conjuncts(cond)]
    by_name: dict[str, tuple[str, list[ast.Literal]]] = {}
    for name, op, lits in terms:
        if name in by_name:
            raise validation("KeyConditionExpressions must only contain one condition per key")
        by_name[name] = (op, lits)
    if shape.hash not in by_name:
        raise validation(f"Query condition missed key schema element: {shape.hash}")
    if set(by_name) - set(shape.names):
        if shape.range is not None and shape.range not in by_name:
            raise validation(f"Query condition missed key schema element: {shape.range}")
        raise validation("Query key condition not supported")
    op, lits = by_name[shape.hash]
    if op != "=":
        raise validation("Query key condition not supported")
    if lits[0].value.get("S") == "":
        raise validation(
            "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain "
            f"an empty string value. Key: {shape.hash}"
        )
    for name, (_, values) in by_name.items():
        for lit in values:
            if kind(lit.value) != shape.type_of(name):
                raise validation(f"{INVALID}Condition parameter type does not match schema type")
    prefix = base + sort_key(lits[0].value)
    if shape.range is None or shape.range not in by_name:
        return KeyRange(prefix)
    op, lits = by_name[shape.range]
    at = prefix + sort_key(lits[0].value)
    if op == "=":
        return KeyRange(at)
    if op == "<":
        return KeyRange(prefix, end=at)
    if op == "<=":
        return KeyRange(prefix, end=prefix_end(at))
    if op == ">":
        return KeyRange(prefix, start=prefix_end(at))
    if op == ">=":
        return KeyRange(prefix, start=at)
    if op == "BETWEEN":
        return KeyRange(prefix, start=at, end=prefix_end(prefix + sort_key(lits[1].value)))
    if kind(lits[0].value) == "N":
        raise validation(
            "Invalid KeyConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: begins_with, operand type: N"
        )
    return KeyRange(at[:-1])  # begins_with: the value's bytes without their terminator


def _paths(node: Any) -> list[ast.Path]:
    if isinstance(node, ast.Path):
        return [node]
    if isinstance(node, ast.Size):
        return [node.path]
    if isinstance(node, ast.Literal) or node is None:
        return []
    out: list[ast.Path] = []
    for value in vars(node).values():
        for child in value if isinstance(value, tuple) else (value,):
            if not isinstance(child, str):
                out += _paths(child)
    return out


def check_select(params: dict[str, Any], select: str, index: str | None, projected: bool) -> None:
    """Select's combinations with a projection and an index, with AWS's messages."""
    given = "ProjectionExpression" if params.get("ProjectionExpression") is not None else "AttributesToGet"
    if projected and select != "SPECIFIC_ATTRIBUTES":
        what = "only the Count" if select == "COUNT" else select
        raise validation(f"Cannot specify the {given} when choosing to get {what}")
    if select == "ALL_PROJECTED_ATTRIBUTES" and index is None:
        raise validation("ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName")
    if select == "SPECIFIC_ATTRIBUTES" and not projected:
        raise validation(
            "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES"
        )


class QueryApi:
    def __init__(self, store: Store, catalog: Catalog) -> None:
        self.store = store
        self.catalog = catalog

    @operation("Query")
    def query(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        exprs = Expressions(params)
        if params.get("KeyConditionExpression") is None and not params.get("KeyConditions"):
            raise validation(
                "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."
            )
        kce = exprs.condition("KeyConditionExpression")
        assert kce is not None
        flt = exprs.condition("FilterExpression")
        paths = exprs.projection()
        exprs.done()
        with self.store.read() as r:
            table = self.catalog.get(r, ctx.account_id, ctx.region, params["TableName"])
            index = self._index(table, params)
            shape = table.shape(index)
            if flt is not None:
                for path in _paths(flt):
                    if path.parts[0] in shape.names:
                        raise validation(
                            f"Filter Expression can only contain non-primary key attributes: Primary key attribute: "
                            f"{path.parts[0]}"
                        )
            rng = key_range(itemstore.base(table, index or ""), shape, kce)
            return self._run(r, table, index, params, rng, flt, paths)

    @operation("Scan")
    def scan(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        exprs = Expressions(params)
        flt = exprs.condition("FilterExpression")
        paths = exprs.projection()
        exprs.done()
        segment, total = params.get("Segment"), params.get("TotalSegments")
        if total is not None and segment is None:
            raise validation(
                "The Segment parameter is required but was not present in the request when parameter "
                "TotalSegments is present"
            )
        if segment is not None and total is None:
            raise validation(
                "The TotalSegments parameter is required but was not present in the request when Segment "
                "parameter is present"
            )
        if segment is not None and total is not None and segment >= total:
            raise validation(
                "The Segment parameter is zero-based and must be less than parameter TotalSegments: "
                f"Segment: {segment} is not less than TotalSegments: {total}"
            )
        with self.store.read() as r:
            table = self.catalog.get(r, ctx.account_id, ctx.region, params["TableName"])
            index = self._index(table, params)
            rng = KeyRange(itemstore.base(table, index or ""))
            seg = (int(segment), int(total)) if segment is not None and total is not None else None
            return self._run(r, table, index, params, rng, flt, paths, segments=seg)

    def _index(self, table: Table, params: dict[str, Any]) -> str | None:
        index = params.get("IndexName")
        if index is None:
            return None
        if index not in table.indexes:
            raise validation(f"The table does not have the specified index: {index}")
        if params.get("ConsistentRead") and table.indexes[index][2] == "GlobalSecondaryIndexes":
            raise validation("Consistent reads are not supported on global secondary indexes")
        return str(index)

    def _start_row(self, table: Table, index: str | None, esk: dict[str, Any]) -> bytes:
        key = clean_key(esk)
        if index is None:
            return itemstore.key_row(table, key)
        shape = table.shape(index)
        names = set(table.key.names) | set(shape.names)
        if set(key) != names:
            raise validation(
                "The provided starting key is invalid: The provided key element does not match the schema"
            )
        return (
            itemstore.base(table, index)
            + itemstore.encode_key(shape, key)
            + itemstore.encode_key(table.key, key)
        )

    def _run(
        self,
        r: ReadTxn,
        table: Table,
        index: str | None,
        params: dict[str, Any],
        rng: KeyRange,
        flt: ast.Condition | None,
        paths: list[ast.Path] | None,
        segments: tuple[int, int] | None = None,
    ) -> dict[str, Any]:
        default = "ALL_PROJECTED_ATTRIBUTES" if index is not None else "ALL_ATTRIBUTES"
        select = params.get("Select") or ("SPECIFIC_ATTRIBUTES" if paths else default)
        check_select(params, select, index, bool(paths))
        full_from_table = False
        if index is not None and select == "ALL_ATTRIBUTES":
            _, projection, kind_ = table.indexes[index]
            if projection.get("ProjectionType") != "ALL":
                if kind_ == "GlobalSecondaryIndexes":
                    raise validation(
                        f"{INVALID}Select type ALL_ATTRIBUTES is not supported for global secondary index {index} "
                        "because its projection type is not ALL"
                    )
                full_from_table = True
        limit = params.get("Limit")
        after = (
            self._start_row(table, index, params["ExclusiveStartKey"])
            if params.get("ExclusiveStartKey")
            else None
        )
        shape = table.shape(index)
        items: list[Item] = []
        count = scanned = read = 0
        last: Item | None = None
        stopped = False
        forward = params.get("ScanIndexForward", True) is not False
        for _, item in itemstore.rows(
            r, rng.prefix, start=rng.start, end=rng.end, forward=forward, after=after
        ):
            if segments is not None and zlib.crc32(sort_key(item[shape.hash])) % segments[1] != segments[0]:
                continue
            scanned += 1
            read += item_size(item)
            last = item
            if flt is None or matches(item, flt):
                count += 1
                if select != "COUNT":
                    if full_from_table:
                        item = (
                            itemstore.load(r, itemstore.base(table) + itemstore.encode_key(table.key, item))
                            or item
                        )
                    items.append(Verbatim(project(item, paths) if paths else item))
            if (limit is not None and scanned >= limit) or read >= PAGE_BYTES:
                stopped = True
                break
        out: dict[str, Any] = {"Count": count, "ScannedCount": scanned}
        if select != "COUNT":
            out["Items"] = items
        if stopped and last is not None:
            names = list(table.key.names) + [n for n in shape.names if n not in table.key.names]
            out["LastEvaluatedKey"] = {n: last[n] for n in names}
        used = capacity(params, table.name, read, consistent=bool(params.get("ConsistentRead")))
        if used:
            out["ConsumedCapacity"] = used
        return out
