"""Table operations: Create/Describe/List/Update/DeleteTable, tags, TimeToLive settings,
continuous backups (point-in-time recovery) settings."""

from __future__ import annotations

import copy
import time
from typing import Any

import cbor2

from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext
from squall.services.dynamodb import itemstore
from squall.services.dynamodb.catalog import Catalog, describe
from squall.services.dynamodb.errors import in_use, not_found, table_not_found, validation
from squall.services.dynamodb.tables import (
    INVALID,
    Table,
    check_key_schema,
    gsi_description,
    new_table,
    set_stream,
)
from squall.services.operations import operation
from squall.storage import Store

MAX_TAGS = 50


class TablesApi:
    def __init__(self, store: Store, catalog: Catalog) -> None:
        self.store = store
        self.catalog = catalog

    @operation("CreateTable")
    def create_table(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        desc = new_table(params, ctx.account_id, ctx.region)
        tags = {t["Key"]: t["Value"] for t in params.get("Tags") or []}
        if tags:
            desc["_Tags"] = tags
        with self.store.write() as w:
            if self.catalog.find(w, ctx.account_id, ctx.region, desc["TableName"]) is not None:
                raise in_use(f"Table already exists: {desc['TableName']}")
            table = self.catalog.save(w, desc)
            out = describe(w, table, "CREATING")
        for ix in out.get("GlobalSecondaryIndexes", []):
            ix["IndexStatus"] = "CREATING"
        return {"TableDescription": out}

    @operation("DescribeTable")
    def describe_table(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.read() as r:
            table = self.catalog.get(r, ctx.account_id, ctx.region, params["TableName"], detailed=True)
            return {"Table": describe(r, table)}

    @operation("ListTables")
    def list_tables(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        limit = int(params.get("Limit") or 100)
        with self.store.read() as r:
            names = self.catalog.names(
                r, ctx.account_id, ctx.region, params.get("ExclusiveStartTableName"), limit + 1
            )
        out: dict[str, Any] = {"TableNames": names[:limit]}
        if len(names) > limit:
            out["LastEvaluatedTableName"] = names[limit - 1]
        return out

    @operation("DeleteTable")
    def delete_table(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.write() as w:
            table = self.catalog.get(w, ctx.account_id, ctx.region, params["TableName"], detailed=True)
            if table.desc.get("DeletionProtectionEnabled"):
                raise validation(
                    "Resource cannot be deleted as it is currently protected against deletion. Disable deletion "
                    "protection first."
                )
            out = describe(w, table, "DELETING")
            self.catalog.delete(w, table)
        return {"TableDescription": out}

    @operation("UpdateTable")
    def update_table(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.write() as w:
            table = self.catalog.get(w, ctx.account_id, ctx.region, params["TableName"], detailed=True)
            desc = copy.deepcopy(table.desc)
            creating = self._update_desc(desc, params)
            new = self.catalog.save(w, desc)
            for name in creating:
                self._backfill(w, table, new, name)
            for name in table.indexes.keys() - new.indexes.keys():
                itemstore.drop_index(w, table, name)
            out = describe(w, new, "UPDATING")
        for ix in out.get("GlobalSecondaryIndexes", []):
            if ix["IndexName"] in creating:
                ix["IndexStatus"] = "CREATING"
        return {"TableDescription": out}

    def _update_desc(self, desc: dict[str, Any], params: dict[str, Any]) -> list[str]:
        billing = params.get("BillingMode") or desc["BillingModeSummary"]["BillingMode"]
        if params.get("BillingMode"):
            desc["BillingModeSummary"] = {"BillingMode": billing}
            if billing == "PAY_PER_REQUEST":
                desc["ProvisionedThroughput"] = {
                    "NumberOfDecreasesToday": 0,
                    "ReadCapacityUnits": 0,
                    "WriteCapacityUnits": 0,
                }
        if params.get("ProvisionedThroughput"):
            if billing == "PAY_PER_REQUEST":
                raise validation(
                    f"{INVALID}Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when "
                    "BillingMode is PAY_PER_REQUEST"
                )
            desc["ProvisionedThroughput"] = {"NumberOfDecreasesToday": 0, **params["ProvisionedThroughput"]}
        if params.get("TableClass"):
            desc["TableClassSummary"] = {"TableClass": params["TableClass"]}
        if params.get("DeletionProtectionEnabled") is not None:
            desc["DeletionProtectionEnabled"] = bool(params["DeletionProtectionEnabled"])
        set_stream(desc, params.get("StreamSpecification"))
        defs = {a["AttributeName"]: a for a in desc["AttributeDefinitions"]}
        for a in params.get("AttributeDefinitions") or []:
            defs[a["AttributeName"]] = a
        creating: list[str] = []
        gsis = desc.setdefault("GlobalSecondaryIndexes", [])
        existing = {ix["IndexName"] for ix in gsis} | {
            ix["IndexName"] for ix in desc.get("LocalSecondaryIndexes", [])
        }
        for upd in params.get("GlobalSecondaryIndexUpdates") or []:
            if "Create" in upd:
                raw = upd["Create"]
                if raw["IndexName"] in existing:
                    raise validation(f"{INVALID}Index already exists: {raw['IndexName']}")
                check_key_schema(raw["KeySchema"], set(defs))
                gsis.append(gsi_description(raw, desc["TableArn"], billing, set(defs)))
                existing.add(raw["IndexName"])
                creating.append(raw["IndexName"])
            elif "Delete" in upd:
                name = upd["Delete"]["IndexName"]
                if name not in {ix["IndexName"] for ix in gsis}:
                    raise not_found(f"Requested resource not found: Index: {name} not found")
                gsis[:] = [ix for ix in gsis if ix["IndexName"] != name]
            elif "Update" in upd:
                name = upd["Update"]["IndexName"]
                match = [ix for ix in gsis if ix["IndexName"] == name]
                if not match:
                    raise not_found(f"Requested resource not found: Index: {name} not found")
                match[0]["ProvisionedThroughput"] = {
                    "NumberOfDecreasesToday": 0,
                    **upd["Update"].get("ProvisionedThroughput", {}),
                }
        if not gsis:
            desc.pop("GlobalSecondaryIndexes")
        used = {k["AttributeName"] for k in desc["KeySchema"]}
        for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            for ix in desc.get(kind, []):
                used |= {k["AttributeName"] for k in ix["KeySchema"]}
        desc["AttributeDefinitions"] = [a for n, a in defs.items() if n in used]
        return creating

    def _backfill(self, w: Any, old: Table, new: Table, index: str) -> None:
        """Index the existing items (in the UpdateTable transaction; the index is ACTIVE after)."""
        rows = list(itemstore.rows(w, itemstore.base(old)))
        for _, item in rows:
            ixrow = itemstore.index_rows(new, item).get(index)
            if ixrow is not None:
                w.put(itemstore.ITEMS, ixrow, cbor2.dumps(new.projected(index, item)))

    @operation("DescribeLimits")
    def describe_limits(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "AccountMaxReadCapacityUnits": 80000,
            "AccountMaxWriteCapacityUnits": 80000,
            "TableMaxReadCapacityUnits": 40000,
            "TableMaxWriteCapacityUnits": 40000,
        }

    @operation("DescribeEndpoints")
    def describe_endpoints(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        address = ctx.endpoint.split("://", 1)[-1].rstrip("/")
        return {"Endpoints": [{"Address": address, "CachePeriodInMinutes": 1440}]}

    # -- tags ---------------------------------------------------------------------------------

    @operation("TagResource")
    def tag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.write() as w:
            table = self.catalog.by_arn(w, ctx.account_id, ctx.region, params["ResourceArn"])
            desc = copy.deepcopy(table.desc)
            tags = desc.setdefault("_Tags", {})
            tags.update({t["Key"]: t["Value"] for t in params["Tags"]})
            if len(tags) > MAX_TAGS:
                raise validation("One or more parameter values were invalid: Too many tags")
            self.catalog.save(w, desc)
        return {}

    @operation("UntagResource")
    def untag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.write() as w:
            table = self.catalog.by_arn(w, ctx.account_id, ctx.region, params["ResourceArn"])
            desc = copy.deepcopy(table.desc)
            for key in params["TagKeys"]:
                desc.get("_Tags", {}).pop(key, None)
            self.catalog.save(w, desc)
        return {}

    @operation("ListTagsOfResource")
    def list_tags_of_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.read() as r:
            table = self.catalog.by_arn(r, ctx.account_id, ctx.region, params["ResourceArn"])
        return {"Tags": [{"Key": k, "Value": v} for k, v in table.desc.get("_Tags", {}).items()]}

    # -- time to live (settings; the sweep comes with Streams) ---------------------------------

    @operation("UpdateTimeToLive")
    def update_time_to_live(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        spec = params["TimeToLiveSpecification"]
        with self.store.write() as w:
            table = self.catalog.get(w, ctx.account_id, ctx.region, params["TableName"], detailed=True)
            desc = copy.deepcopy(table.desc)
            current = desc.get("_Ttl")
            if spec["Enabled"]:
                if current:
                    raise validation("TimeToLive is already enabled")
                desc["_Ttl"] = spec["AttributeName"]
            else:
                if not current:
                    raise validation("TimeToLive is already disabled")
                if current != spec["AttributeName"]:
                    raise validation(
                        "TimeToLive is active on a different AttributeName: current AttributeName is "
                        + current
                    )
                desc.pop("_Ttl")
            self.catalog.save(w, desc)
        return {
            "TimeToLiveSpecification": {
                "Enabled": bool(spec["Enabled"]),
                "AttributeName": spec["AttributeName"],
            }
        }

    @operation("DescribeTimeToLive")
    def describe_time_to_live(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.read() as r:
            table = self.catalog.get(r, ctx.account_id, ctx.region, params["TableName"], detailed=True)
        attr = table.desc.get("_Ttl")
        if not attr:
            return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}
        return {"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": attr}}

    # -- continuous backups (the setting only: Squall keeps no restorable history) --------------

    @operation("DescribeContinuousBackups")
    def describe_continuous_backups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.read() as r:
            table = self._backups_table(r, ctx, params["TableName"])
        return {"ContinuousBackupsDescription": _backups(table.desc)}

    @operation("UpdateContinuousBackups")
    def update_continuous_backups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        spec = params["PointInTimeRecoverySpecification"]
        days = spec.get("RecoveryPeriodInDays")
        if days is not None and not spec["PointInTimeRecoveryEnabled"]:
            raise validation(
                "RecoveryPeriodInDays can only be specified when PointInTimeRecoveryEnabled is true"
            )
        if days is not None and not 1 <= int(days) <= 35:
            raise validation("RecoveryPeriodInDays must be between 1 and 35")
        with self.store.write() as w:
            table = self._backups_table(w, ctx, params["TableName"])
            desc = copy.deepcopy(table.desc)
            if spec["PointInTimeRecoveryEnabled"]:
                desc["_Pitr"] = {"Since": time.time(), "Days": int(days or 35)}
            else:
                desc.pop("_Pitr", None)
            self.catalog.save(w, desc)
        return {"ContinuousBackupsDescription": _backups(desc)}

    def _backups_table(self, r: Any, ctx: RequestContext, name: str) -> Table:
        """The table by name or ARN; the backup operations answer TableNotFoundException, not
        ResourceNotFoundException."""
        try:
            return self.catalog.get(r, ctx.account_id, ctx.region, name)
        except ServiceError as e:
            if e.code != "ResourceNotFoundException":
                raise
            raise table_not_found(f"Table not found: {name}") from None


def _backups(desc: dict[str, Any]) -> dict[str, Any]:
    """AWS's ContinuousBackupsDescription: continuous backups are always ENABLED; point-in-time
    recovery is DISABLED until UpdateContinuousBackups turns it on."""
    pitr = desc.get("_Pitr")
    if not pitr:
        return {
            "ContinuousBackupsStatus": "ENABLED",
            "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"},
        }
    now = time.time()
    return {
        "ContinuousBackupsStatus": "ENABLED",
        "PointInTimeRecoveryDescription": {
            "PointInTimeRecoveryStatus": "ENABLED",
            "RecoveryPeriodInDays": pitr["Days"],
            "EarliestRestorableDateTime": max(pitr["Since"], now - pitr["Days"] * 86400),
            "LatestRestorableDateTime": now - 300,
        },
    }
