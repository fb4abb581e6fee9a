"""Bucket lifecycle configuration: Put/Get/Delete, AWS's validation, rule filters, x-amz-expiration.

A configuration is stored on the bucket record as {"rules": [rule, ...], "min_size": ...}; a
rule is the model's `LifecycleRule` dict with every `Date` as epoch seconds (the serializer
writes them back as ISO 8601)."""

from __future__ import annotations

import dataclasses
import itertools
import secrets
from datetime import datetime
from typing import Any

from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext
from squall.services.operations import operation
from squall.services.s3 import models as m
from squall.services.s3.buckets import Buckets
from squall.services.s3.models import Bucket, ObjectVersion
from squall.services.s3.tiers import Day, coldness, http_date

MAX_RULES = 1000
SMALL_OBJECT = 128 * 1024
_MIN_SIZES = ("all_storage_classes_128K", "varies_by_storage_class")
_TRANSITION_CLASSES = frozenset(
    {"GLACIER", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "DEEP_ARCHIVE", "GLACIER_IR"}
)
_IA_CLASSES = frozenset({"STANDARD_IA", "ONEZONE_IA"})


def malformed() -> ServiceError:
    return ServiceError(
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema",
        400,
    )


def _invalid(message: str) -> ServiceError:
    return ServiceError("InvalidArgument", message, 400)


def _request(message: str) -> ServiceError:
    return ServiceError("InvalidRequest", message, 400)


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    raise malformed()


def _midnight(value: Any) -> float:
    epoch = _epoch(value)
    if epoch % 86400:
        raise _invalid("'Date' must be at midnight GMT")
    return epoch


def rule_prefix(rule: dict[str, Any]) -> str:
    if "Prefix" in rule:
        return str(rule["Prefix"] or "")
    filt = rule.get("Filter") or {}
    return str(filt.get("Prefix") or (filt.get("And") or {}).get("Prefix") or "")


def _conditions(rule: dict[str, Any]) -> tuple[dict[str, str], int | None, int | None]:
    """(tags, size greater than, size less than) a rule's filter asks for."""
    filt = rule.get("Filter") or {}
    both = filt.get("And") or {}
    tags = {t["Key"]: t.get("Value", "") for t in both.get("Tags") or []}
    if filt.get("Tag"):
        tags[filt["Tag"]["Key"]] = filt["Tag"].get("Value", "")
    gt = filt.get("ObjectSizeGreaterThan", both.get("ObjectSizeGreaterThan"))
    lt = filt.get("ObjectSizeLessThan", both.get("ObjectSizeLessThan"))
    return tags, gt, lt


def matches(rule: dict[str, Any], version: ObjectVersion) -> bool:
    """Whether an enabled rule's filter selects this version (prefix, tags, size)."""
    if rule.get("Status") != "Enabled" or not version.key.startswith(rule_prefix(rule)):
        return False
    tags, gt, lt = _conditions(rule)
    if any(version.tags.get(k) != v for k, v in tags.items()):
        return False
    return (gt is None or version.size > gt) and (lt is None or version.size < lt)


def may_transition(config: dict[str, Any], rule: dict[str, Any], version: ObjectVersion, to: str) -> bool:
    """AWS's minimum object size for transitions (128 KB unless the rule filters on size)."""
    _, gt, _ = _conditions(rule)
    if gt is not None or version.size >= SMALL_OBJECT:
        return True
    return config.get("min_size") == "varies_by_storage_class" and to in m.ARCHIVE_CLASSES


def expiration_header(bucket: Bucket, version: ObjectVersion, day: Day) -> str | None:
    """`x-amz-expiration` for the current version: the earliest Expiration a rule gives it."""
    if bucket.lifecycle is None or version.delete_marker:
        return None
    best: tuple[float, str] | None = None
    for rule in bucket.lifecycle["rules"]:
        exp = rule.get("Expiration") or {}
        if not matches(rule, version) or ("Days" not in exp and "Date" not in exp):
            continue
        when = day.due(version.last_modified, exp["Days"]) if "Days" in exp else float(exp["Date"])
        if best is None or when < best[0]:
            best = (when, rule["ID"])
    if best is None:
        return None
    return f'expiry-date="{http_date(best[0])}", rule-id="{best[1]}"'


def _check_transitions(
    items: list[dict[str, Any]], days_key: str, action: str, where: str
) -> list[tuple[str, float, bool]]:
    """Validate one rule's (noncurrent) transitions; [(class, days or date, is_date)]."""
    found: list[tuple[str, float, bool]] = []
    for item in items:
        sclass = item.get("StorageClass")
        if sclass not in _TRANSITION_CLASSES:
            raise malformed()
        has_days, has_date = item.get(days_key) is not None, item.get("Date") is not None
        if has_days == has_date:
            raise malformed()
        if has_date:
            item["Date"] = _midnight(item["Date"])
            found.append((sclass, item["Date"], True))
            continue
        days = int(item[days_key])
        if days < 0 or (days_key == "NoncurrentDays" and days == 0):
            raise _invalid(f"'{days_key}' for {action} action must be a positive integer")
        if sclass in _IA_CLASSES and days < 30:
            raise _invalid(
                f"'{days_key}' in {action} action must be greater than or equal to 30 "
                f"for storageClass '{sclass}'"
            )
        if (
            item.get("NewerNoncurrentVersions") is not None
            and not 1 <= item["NewerNoncurrentVersions"] <= 100
        ):
            raise _invalid(f"'NewerNoncurrentVersions' for {action} action must be a positive integer")
        found.append((sclass, float(days), False))
    classes = [c for c, _, _ in found]
    if len(set(classes)) != len(classes):
        raise _request(f"'StorageClass' must be different for '{action}' actions in same 'Rule' with {where}")
    if len({d for _, _, d in found}) > 1:
        raise _request(f"Found mixed 'Date' and 'Days' based {action} actions in lifecycle rule for {where}")
    ordered = sorted(found, key=lambda t: coldness(t[0]))
    for (warm, at_warm, _), (cold, at_cold, is_date) in itertools.pairwise(ordered):
        if at_cold <= at_warm:
            unit = "Date" if is_date else days_key
            raise _invalid(
                f"'{unit}' in the {action} action for StorageClass '{cold}' for {where} must be "
                f"greater than '{unit}' in the {action} action for StorageClass '{warm}' for {where}"
            )
    return found


def _check_filter(rule: dict[str, Any]) -> None:
    if ("Prefix" in rule) == ("Filter" in rule):
        raise malformed()
    filt = rule.get("Filter") or {}
    present = [
        k for k in ("Prefix", "Tag", "And", "ObjectSizeGreaterThan", "ObjectSizeLessThan") if k in filt
    ]
    if len(present) > 1:
        raise malformed()
    _, gt, lt = _conditions(rule)
    if (gt is not None and gt < 0) or (lt is not None and lt <= 0):
        raise _invalid("'ObjectSize' filter values must be non-negative")
    if gt is not None and lt is not None and gt >= lt:
        raise _invalid("ObjectSizeGreaterThan must be less than ObjectSizeLessThan in a filter")


def check_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """AWS's checks on one rule; returns it with ID filled in and Dates as epoch seconds."""
    rule = dict(rule)
    if rule.get("Status") not in ("Enabled", "Disabled"):
        raise malformed()
    _check_filter(rule)
    rule["ID"] = rule.get("ID") or secrets.token_hex(24)
    if len(rule["ID"]) > 255:
        raise _invalid("ID length should not exceed allowed limit of 255")
    where = f"filter '(prefix={rule_prefix(rule)})'"
    tags, gt, lt = _conditions(rule)
    actions = ("Expiration", "Transitions", "NoncurrentVersionTransitions", "NoncurrentVersionExpiration",
               "AbortIncompleteMultipartUpload")  # fmt: skip
    if not any(rule.get(a) for a in actions):
        raise _request("At least one action needs to be specified in a rule")
    exp = rule.get("Expiration")
    if exp:
        exp = rule["Expiration"] = dict(exp)
        given = [k for k in ("Days", "Date", "ExpiredObjectDeleteMarker") if exp.get(k) is not None]
        if len(given) != 1:
            raise malformed()
        if exp.get("Days") is not None and exp["Days"] <= 0:
            raise _invalid("'Days' for Expiration action must be a positive integer")
        if exp.get("Date") is not None:
            exp["Date"] = _midnight(exp["Date"])
        if exp.get("ExpiredObjectDeleteMarker") and (tags or gt is not None or lt is not None):
            raise _request("ExpiredObjectDeleteMarker cannot be specified with Tags or ObjectSize.")
    rule["Transitions"] = [dict(t) for t in rule.get("Transitions") or []]
    found = _check_transitions(rule["Transitions"], "Days", "Transition", where)
    if exp and found and (exp.get("Days") is not None or exp.get("Date") is not None):
        by_date = exp.get("Date") is not None
        if any(d != by_date for _, _, d in found):
            raise _request(f"Found mixed 'Date' and 'Days' based Expiration and Transition actions in "
                           f"lifecycle rule for {where}")  # fmt: skip
        limit = exp["Date"] if by_date else exp["Days"]
        if limit <= max(at for _, at, _ in found):
            unit, verb = ("Date", "later") if by_date else ("Days", "greater")
            raise _invalid(f"'{unit}' in the Expiration action for {where} must be {verb} than "
                           f"'{unit}' in the Transition action")  # fmt: skip
    rule["NoncurrentVersionTransitions"] = [dict(t) for t in rule.get("NoncurrentVersionTransitions") or []]
    nc_found = _check_transitions(
        rule["NoncurrentVersionTransitions"], "NoncurrentDays", "NoncurrentVersionTransition", where
    )
    nce = rule.get("NoncurrentVersionExpiration")
    if nce:
        days, newer = nce.get("NoncurrentDays"), nce.get("NewerNoncurrentVersions")
        if days is None or days <= 0:
            raise _invalid(
                "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer"
            )
        if newer is not None and not 1 <= newer <= 100:
            raise _invalid(
                "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be a positive integer"
            )
        if nc_found and days <= max(at for _, at, _ in nc_found):
            raise _invalid(f"'NoncurrentDays' in the NoncurrentVersionExpiration action for {where} must "
                           "be greater than 'NoncurrentDays' in the NoncurrentVersionTransition action")  # fmt: skip
    abort = rule.get("AbortIncompleteMultipartUpload")
    if abort:
        if (abort.get("DaysAfterInitiation") or 0) <= 0:
            raise _invalid(
                "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer"
            )
        if tags or gt is not None or lt is not None:
            raise _request("AbortIncompleteMultipartUpload cannot be specified with Tags or ObjectSize.")
    return {k: v for k, v in rule.items() if v not in (None, [])}


class LifecycleConfigs:
    def __init__(self, buckets: Buckets) -> None:
        self.buckets = buckets
        self.data = buckets.data

    @operation("PutBucketLifecycleConfiguration")
    def put_bucket_lifecycle_configuration(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        bucket = self.buckets.owned(ctx, params["Bucket"])
        rules = (params.get("LifecycleConfiguration") or {}).get("Rules") or []
        if not rules or len(rules) > MAX_RULES:
            raise malformed()
        min_size = params.get("TransitionDefaultMinimumObjectSize") or _MIN_SIZES[0]
        if min_size not in _MIN_SIZES:
            raise malformed()
        checked = [check_rule(r) for r in rules]
        ids = [r["ID"] for r in checked]
        if len(set(ids)) != len(ids):
            raise _invalid("Rule ID must be unique. Found same ID for more than one rule")
        config = {"rules": checked, "min_size": min_size}
        self.data.save_bucket(dataclasses.replace(bucket, lifecycle=config))
        return {"TransitionDefaultMinimumObjectSize": min_size}

    @operation("GetBucketLifecycleConfiguration")
    def get_bucket_lifecycle_configuration(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        bucket = self.buckets.owned(ctx, params["Bucket"])
        if bucket.lifecycle is None:
            raise ServiceError(
                "NoSuchLifecycleConfiguration",
                "The lifecycle configuration does not exist",
                404,
                fields={"BucketName": bucket.name},
            )
        return {
            "Rules": bucket.lifecycle["rules"],
            "TransitionDefaultMinimumObjectSize": bucket.lifecycle["min_size"],
        }

    @operation("DeleteBucketLifecycle")
    def delete_bucket_lifecycle(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.buckets.owned(ctx, params["Bucket"])
        self.data.save_bucket(dataclasses.replace(bucket, lifecycle=None))
        return {}
