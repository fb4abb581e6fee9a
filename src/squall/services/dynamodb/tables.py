"""Table definitions: CreateTable's checks with AWS's messages, and the `Table` record kept in
the store (the TableDescription without the figures that change with every write)."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from squall.services.dynamodb.errors import validation
from squall.services.dynamodb.values import MAX_HASH, MAX_RANGE

INVALID = "One or more parameter values were invalid: "


@dataclass(frozen=True)
class KeyShape:
    """The key of the table or of one index: attribute names and their types (S, N or B)."""

    index: str  # "" for the table itself
    hash: str
    range: str | None
    types: tuple[tuple[str, str], ...]

    def type_of(self, name: str) -> str:
        return self.type_map[name]

    @cached_property
    def type_map(self) -> dict[str, str]:
        return dict(self.types)

    @cached_property
    def names(self) -> tuple[str, ...]:
        return (self.hash,) if self.range is None else (self.hash, self.range)

    @cached_property
    def plan(self) -> tuple[tuple[str, str, int], ...]:
        """(name, type, size limit) of each key attribute, hash first: what the row-key fast path
        (itemstore) checks."""
        plan = [(self.hash, self.type_map[self.hash], MAX_HASH)]
        if self.range is not None:
            plan.append((self.range, self.type_map[self.range], MAX_RANGE))
        return tuple(plan)


class Table:
    """One table's stored description (a TableDescription dict) and its key shapes."""

    def __init__(self, desc: dict[str, Any]) -> None:
        self.desc = desc
        types = {a["AttributeName"]: a["AttributeType"] for a in desc["AttributeDefinitions"]}
        self.key = _shape("", desc["KeySchema"], types)
        self.indexes: dict[str, tuple[KeyShape, dict[str, Any], str]] = {}
        for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            for ix in desc.get(kind, []):
                self.indexes[ix["IndexName"]] = (
                    _shape(ix["IndexName"], ix["KeySchema"], types),
                    ix["Projection"],
                    kind,
                )

    @cached_property
    def name(self) -> str:
        return str(self.desc["TableName"])

    @cached_property
    def id(self) -> str:
        return str(self.desc["TableId"])

    @cached_property
    def arn(self) -> str:
        return str(self.desc["TableArn"])

    @cached_property
    def scope(self) -> tuple[str, str]:
        """(account, region) from the ARN."""
        parts = self.arn.split(":")
        return parts[4], parts[3]

    def shape(self, index: str | None) -> KeyShape:
        return self.key if not index else self.indexes[index][0]

    def projected(self, index: str, item: dict[str, Any]) -> dict[str, Any]:
        """What an index stores of `item`."""
        shape, projection, _ = self.indexes[index]
        kind = projection.get("ProjectionType", "ALL")
        if kind == "ALL":
            return item
        keep = set(self.key.names) | set(shape.names)
        if kind == "INCLUDE":
            keep |= set(projection.get("NonKeyAttributes", []))
        return {n: v for n, v in item.items() if n in keep}


def _shape(index: str, schema: list[dict[str, str]], types: dict[str, str]) -> KeyShape:
    hash_ = next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH")
    range_ = next((k["AttributeName"] for k in schema if k["KeyType"] == "RANGE"), None)
    names = [hash_] if range_ is None else [hash_, range_]
    return KeyShape(index, hash_, range_, tuple((n, types[n]) for n in names))


def check_key_schema(schema: list[dict[str, str]], defined: set[str], what: str = "") -> None:
    kinds = [k["KeyType"] for k in schema]
    if not schema or kinds[0] != "HASH":
        raise validation(f"Invalid KeySchema: The first KeySchemaElement is not a HASH key type{what}")
    if kinds.count("HASH") > 1:
        raise validation("Too many hash keys specified.  All Dynamo DB tables must have exactly one hash key")
    if kinds.count("RANGE") > 1:
        raise validation(
            "Too many range keys specified.  All Dynamo DB tables must have at most one range key"
        )
    if len(schema) == 2 and schema[0]["AttributeName"] == schema[1]["AttributeName"]:
        raise validation(
            f"{INVALID}Both the Hash Key and the Range Key element in the KeySchema have the same name"
        )
    missing = [k["AttributeName"] for k in schema if k["AttributeName"] not in defined]
    if missing:
        raise validation(
            f"{INVALID}Some index key attributes are not defined in AttributeDefinitions. "
            f"Keys: [{', '.join(missing)}], AttributeDefinitions: [{', '.join(sorted(defined))}]"
        )


def check_definitions(defined: list[str], keys: list[str], indexes: bool) -> None:
    """AttributeDefinitions must define exactly the key attributes (AWS's messages)."""
    if set(defined) == set(keys):
        return
    shown = f"[{', '.join(defined)}]"
    if len(defined) > len(keys):
        if indexes:
            raise validation(
                f"{INVALID}Some AttributeDefinitions are not used. AttributeDefinitions: {shown}, keys used: "
                f"[{', '.join(keys)}]"
            )
        raise validation(
            f"{INVALID}Number of attributes in KeySchema does not exactly match number of attributes defined "
            "in AttributeDefinitions"
        )
    if len(defined) < len(keys) and not indexes:
        raise validation("Invalid KeySchema: Some index key attribute have no definition")
    missing = [k for k in keys if k not in defined] if indexes else keys
    raise validation(
        f"{INVALID}Some index key attributes are not defined in AttributeDefinitions. "
        f"Keys: [{', '.join(missing)}], AttributeDefinitions: {shown}"
    )


def _throughput(params: dict[str, Any], billing: str, where: str = "") -> dict[str, Any]:
    given = params.get("ProvisionedThroughput")
    if billing == "PAY_PER_REQUEST":
        if given:
            raise validation(
                f"{INVALID}Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode "
                f"is PAY_PER_REQUEST{where}"
            )
        return {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 0, "WriteCapacityUnits": 0}
    if not given:
        raise validation(
            f"{INVALID}ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED{where}"
        )
    return {
        "NumberOfDecreasesToday": 0,
        "ReadCapacityUnits": int(given["ReadCapacityUnits"]),
        "WriteCapacityUnits": int(given["WriteCapacityUnits"]),
    }


def _projection(raw: dict[str, Any]) -> dict[str, Any]:
    kind = raw.get("ProjectionType") or "ALL"
    out: dict[str, Any] = {"ProjectionType": kind}
    if kind == "INCLUDE":
        if not raw.get("NonKeyAttributes"):
            raise validation(f"{INVALID}NonKeyAttributes must be specified when ProjectionType is INCLUDE")
        out["NonKeyAttributes"] = list(raw["NonKeyAttributes"])
    elif raw.get("NonKeyAttributes"):
        raise validation(f"{INVALID}ProjectionType is {kind}, but NonKeyAttributes is specified")
    return out


def gsi_description(raw: dict[str, Any], table_arn: str, billing: str, defined: set[str]) -> dict[str, Any]:
    check_key_schema(raw["KeySchema"], defined)
    return {
        "IndexName": raw["IndexName"],
        "KeySchema": raw["KeySchema"],
        "Projection": _projection(raw.get("Projection") or {}),
        "IndexStatus": "ACTIVE",
        "ProvisionedThroughput": _throughput(raw, billing),
        "IndexArn": f"{table_arn}/index/{raw['IndexName']}",
    }


def new_table(params: dict[str, Any], account: str, region: str) -> dict[str, Any]:
    """The stored description of a table CreateTable would create (or a ValidationException)."""
    name = params["TableName"]
    defs = params["AttributeDefinitions"]
    defined = {a["AttributeName"] for a in defs}
    indexes = [*(params.get("LocalSecondaryIndexes") or []), *(params.get("GlobalSecondaryIndexes") or [])]
    keys = [
        k["AttributeName"]
        for schema in [params["KeySchema"], *(ix["KeySchema"] for ix in indexes)]
        for k in schema
    ]
    check_definitions([a["AttributeName"] for a in defs], list(dict.fromkeys(keys)), bool(indexes))
    check_key_schema(params["KeySchema"], defined)
    billing = params.get("BillingMode") or "PROVISIONED"
    arn = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
    desc: dict[str, Any] = {
        "AttributeDefinitions": defs,
        "TableName": name,
        "KeySchema": params["KeySchema"],
        "TableStatus": "ACTIVE",
        "CreationDateTime": time.time(),
        "ProvisionedThroughput": _throughput(params, billing),
        "TableArn": arn,
        "TableId": str(uuid.uuid4()),
        "BillingModeSummary": {"BillingMode": billing},
        "TableClassSummary": {"TableClass": params.get("TableClass") or "STANDARD"},
        "DeletionProtectionEnabled": bool(params.get("DeletionProtectionEnabled")),
    }
    names: set[str] = set()
    table_hash = next(k["AttributeName"] for k in params["KeySchema"] if k["KeyType"] == "HASH")
    has_range = len(params["KeySchema"]) == 2
    for raw in params.get("LocalSecondaryIndexes") or []:
        if not has_range:
            raise validation(
                f"{INVALID}Table KeySchema does not have a range key, which is required when specifying a "
                "LocalSecondaryIndex"
            )
        check_key_schema(raw["KeySchema"], defined)
        if raw["KeySchema"][0]["AttributeName"] != table_hash:
            raise validation(
                f"{INVALID}Index KeySchema does not have the same leading hash key as table KeySchema for "
                f"index: {raw['IndexName']}. index hash key: {raw['KeySchema'][0]['AttributeName']}, "
                f"table hash key: {table_hash}"
            )
        if len(raw["KeySchema"]) != 2:
            raise validation(
                f"{INVALID}Index KeySchema does not have a range key for index: {raw['IndexName']}"
            )
        desc.setdefault("LocalSecondaryIndexes", []).append(
            {
                "IndexName": raw["IndexName"],
                "KeySchema": raw["KeySchema"],
                "Projection": _projection(raw.get("Projection") or {}),
                "IndexArn": f"{arn}/index/{raw['IndexName']}",
            }
        )
        names.add(raw["IndexName"])
    for raw in params.get("GlobalSecondaryIndexes") or []:
        if raw["IndexName"] in names:
            raise validation(f"{INVALID}Duplicate index name: {raw['IndexName']}")
        names.add(raw["IndexName"])
        desc.setdefault("GlobalSecondaryIndexes", []).append(gsi_description(raw, arn, billing, defined))
    set_stream(desc, params.get("StreamSpecification"))
    return desc


def set_stream(desc: dict[str, Any], spec: dict[str, Any] | None) -> None:
    """Record a StreamSpecification (the Streams API reads it; records come in the next step)."""
    if not spec:
        return
    if spec.get("StreamEnabled"):
        if not spec.get("StreamViewType"):
            raise validation("StreamSpecification: StreamViewType is required when StreamEnabled is true")
        if desc.get("StreamSpecification", {}).get("StreamEnabled"):
            raise validation(f"Table already has an enabled stream: {desc['TableArn']}")
        label = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        desc["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": spec["StreamViewType"]}
        desc["LatestStreamLabel"] = label
        desc["LatestStreamArn"] = f"{desc['TableArn']}/stream/{label}"
    else:
        desc.pop("StreamSpecification", None)  # LatestStreamArn stays, as on AWS
