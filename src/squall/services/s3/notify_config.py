"""Bucket notification configurations: validation, normalization, and matching events to targets.

A configuration is stored on the bucket (`Bucket.notification`) in the shape
GetBucketNotificationConfiguration returns: `QueueConfigurations`,
`TopicConfigurations`, `LambdaFunctionConfigurations` (each with `Id`, the
destination ARN, `Events`, optional `Filter.Key.FilterRules` named `Prefix` /
`Suffix`) and `EventBridgeConfiguration` (recorded, not delivered).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

from squall.services.s3 import models as m

#: Every event type S3 notifies, by family ("" = a type without subtypes).
EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "ObjectCreated": ("Put", "Post", "Copy", "CompleteMultipartUpload"),
    "ObjectRemoved": ("Delete", "DeleteMarkerCreated"),
    "ObjectRestore": ("Post", "Completed", "Delete"),
    "ReducedRedundancyLostObject": (),
    "Replication": (
        "OperationFailedReplication",
        "OperationMissedThreshold",
        "OperationReplicatedAfterThreshold",
        "OperationNotTracked",
    ),
    "LifecycleTransition": (),
    "IntelligentTiering": (),
    "ObjectAcl": ("Put",),
    "LifecycleExpiration": ("Delete", "DeleteMarkerCreated"),
    "ObjectTagging": ("Put", "Delete"),
}

#: (configuration list, the member naming its destination, target kind)
KINDS = (
    ("QueueConfigurations", "QueueArn", "queue"),
    ("TopicConfigurations", "TopicArn", "topic"),
    ("LambdaFunctionConfigurations", "LambdaFunctionArn", "lambda"),
)

OVERLAP = "Configurations overlap. Configurations on the same bucket cannot share a common event type."


def expand(event: str) -> set[str]:
    """The concrete event names ("ObjectCreated:Put") an `s3:` event type covers;
    InvalidArgument for one S3 does not know."""
    name = event[3:] if event.startswith("s3:") else None
    family, _, sub = (name or "").partition(":")
    subtypes = EVENT_TYPES.get(family)
    if name is None or subtypes is None or (sub and sub != "*" and sub not in subtypes):
        raise m.invalid_argument("The event is not supported for notifications", "Event", event)
    if not subtypes:
        if sub:
            raise m.invalid_argument("The event is not supported for notifications", "Event", event)
        return {family}
    if sub == "*":
        return {f"{family}:{s}" for s in subtypes}
    if not sub:
        raise m.invalid_argument("The event is not supported for notifications", "Event", event)
    return {name}


def _filter(raw: dict[str, Any] | None) -> tuple[str, str, dict[str, Any] | None]:
    """(prefix, suffix, the filter as stored)."""
    rules = ((raw or {}).get("Key") or {}).get("FilterRules") or []
    found: dict[str, str] = {}
    for rule in rules:
        name = str(rule.get("Name") or "").lower()
        if name not in ("prefix", "suffix"):
            raise m.invalid_argument(
                "filter rule name must be either prefix or suffix", "FilterRule.Name", rule.get("Name")
            )
        if name in found:
            raise m.invalid_argument(
                f"Cannot specify more than one {name} rule in a filter.", "FilterRule.Name", rule.get("Name")
            )
        value = str(rule.get("Value") or "")
        if len(value.encode()) > m.MAX_KEY_BYTES:
            raise m.invalid_argument("The filter rule value is too long", "FilterRule.Value", value)
        found[name] = value
    stored = None
    if found:
        stored = {"Key": {"FilterRules": [{"Name": n.capitalize(), "Value": v} for n, v in found.items()]}}
    return found.get("prefix", ""), found.get("suffix", ""), stored


def new_id() -> str:
    """An id like the ones S3 generates for configurations given without one."""
    return base64.b64encode(str(uuid.uuid4()).encode()).decode().rstrip("=")


def normalize(config: dict[str, Any]) -> dict[str, Any]:
    """The configuration as stored and returned: ids filled in, filter rule names
    capitalized; InvalidArgument for unknown events, bad filters, duplicate ids and overlaps."""
    out: dict[str, Any] = {}
    seen_ids: set[str] = set()
    entries: list[tuple[set[str], str, str]] = []
    for list_name, arn_member, _ in KINDS:
        items = []
        for item in config.get(list_name) or []:
            events: set[str] = set()
            for event in item.get("Events") or []:
                events |= expand(event)
            if not events:
                raise m.invalid_argument("A notification configuration must specify at least one event")
            prefix, suffix, stored_filter = _filter(item.get("Filter"))
            ident = item.get("Id") or new_id()
            if ident in seen_ids:
                raise m.invalid_argument("Duplicate notification configuration id", "Id", ident)
            seen_ids.add(ident)
            stored: dict[str, Any] = {"Id": ident, arn_member: item[arn_member], "Events": item["Events"]}
            if stored_filter is not None:
                stored["Filter"] = stored_filter
            items.append(stored)
            entries.append((events, prefix, suffix))
        if items:
            out[list_name] = items
    if config.get("EventBridgeConfiguration") is not None:
        out["EventBridgeConfiguration"] = {}
    _check_overlaps(entries)
    return out


def _check_overlaps(entries: list[tuple[set[str], str, str]]) -> None:
    for i, (events_a, prefix_a, suffix_a) in enumerate(entries):
        for events_b, prefix_b, suffix_b in entries[i + 1 :]:
            shared = events_a & events_b
            prefixes = prefix_a.startswith(prefix_b) or prefix_b.startswith(prefix_a)
            suffixes = suffix_a.endswith(suffix_b) or suffix_b.endswith(suffix_a)
            if shared and prefixes and suffixes:
                raise m.invalid_argument(OVERLAP, "Event", "s3:" + sorted(shared)[0])


def destinations(config: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(kind, ARN, configuration id) of each configuration."""
    for list_name, arn_member, kind in KINDS:
        for item in config.get(list_name) or []:
            yield kind, item[arn_member], item["Id"]


def targets_for(config: dict[str, Any] | None, event: str, key: str) -> list[dict[str, str]]:
    """The destinations a concrete event ("ObjectCreated:Put") on `key` goes to."""
    if not config:
        return []
    family = event.partition(":")[0]
    names = {"s3:" + event, f"s3:{family}:*"}
    found = []
    for list_name, arn_member, kind in KINDS:
        for item in config.get(list_name) or []:
            if not names & set(item["Events"]):
                continue
            rules = {r["Name"]: r["Value"] for r in ((item.get("Filter") or {}).get("Key") or {})
                     .get("FilterRules", [])}  # fmt: skip
            if key.startswith(rules.get("Prefix", "")) and key.endswith(rules.get("Suffix", "")):
                found.append({"kind": kind, "arn": item[arn_member], "id": item["Id"]})
    return found
