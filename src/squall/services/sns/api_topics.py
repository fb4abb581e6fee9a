"""CreateTopic, DeleteTopic, ListTopics, Get/SetTopicAttributes and the tag operations."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext
from squall.services.operations import operation
from squall.services.sns.errors import invalid_parameter, resource_not_found
from squall.services.sns.policies import (
    check_delivery_policy,
    default_topic_policy,
    effective_delivery_policy,
    parse_json_attribute,
)
from squall.services.sns.records import Directory, Topic, parse_topic_arn, valid_topic_name
from squall.services.sns.topic_policy import require

TOPIC_ATTRIBUTES = frozenset(
    {
        "DeliveryPolicy",
        "DisplayName",
        "FifoTopic",
        "Policy",
        "KmsMasterKeyId",
        "SignatureVersion",
        "TracingConfig",
        "ContentBasedDeduplication",
        "ArchivePolicy",
        "FifoThroughputScope",
        "DataProtectionPolicy",
        *(
            f"{proto}{what}"
            for proto in ("Application", "Firehose", "HTTP", "Lambda", "SQS")
            for what in ("SuccessFeedbackRoleArn", "SuccessFeedbackSampleRate", "FailureFeedbackRoleArn")
        ),
    }
)
MAX_TAGS = 50
FIFO_NAME = (
    "Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ASCII "
    "letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long."
)


def check_topic_attribute(name: str, value: str, *, fifo: bool, creating: bool) -> str:
    """Validate one attribute; the value to store (booleans lower-cased)."""
    if name not in TOPIC_ATTRIBUTES:
        raise invalid_parameter("AttributeName")
    if name == "FifoTopic":
        if not creating:
            raise invalid_parameter("AttributeName")
        return value.lower()
    if name == "ContentBasedDeduplication":
        if value.lower() not in ("true", "false"):
            raise invalid_parameter("ContentBasedDeduplication")
        if not fifo:
            raise invalid_parameter(
                "ContentBasedDeduplication Reason: Content based deduplication can only be set for FIFO topics"
            )
        return value.lower()
    if name in ("Policy", "DataProtectionPolicy", "ArchivePolicy"):
        if not isinstance(parse_json_attribute(name, value), dict):
            raise invalid_parameter(f"{name}: must be a JSON object")
    elif name == "DeliveryPolicy":
        check_delivery_policy(value, topic=True)
    elif name == "SignatureVersion" and value not in ("1", "2"):
        raise invalid_parameter("SignatureVersion")
    elif name == "DisplayName" and len(value) > 100:
        raise invalid_parameter("DisplayName")
    return value


def tag_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for tag in tags or []:
        key, value = tag.get("Key", ""), tag.get("Value", "")
        if not key or len(key) > 128 or len(value) > 256:
            raise invalid_parameter("Tags")
        out[key] = value
    return out


class TopicsApi:
    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    @operation("CreateTopic")
    def create_topic(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name: str = params["Name"]
        raw_attrs: dict[str, str] = params.get("Attributes") or {}
        fifo = raw_attrs.get("FifoTopic", "false").lower() == "true"
        if not valid_topic_name(name, fifo):
            raise invalid_parameter(FIFO_NAME if fifo or name.endswith(".fifo") else "Topic Name")
        attrs = {k: check_topic_attribute(k, v, fifo=fifo, creating=True) for k, v in raw_attrs.items()}
        if not fifo:
            attrs.pop("FifoTopic", None)
        tags = tag_dict(params.get("Tags"))
        if len(tags) > MAX_TAGS:
            raise tag_limit()
        existing = self.directory.find_topic(ctx.account_id, ctx.region, name)
        if existing is not None:
            if any(existing.attributes.get(k) != v for k, v in attrs.items()):
                raise invalid_parameter("Attributes Reason: Topic already exists with different attributes")
            if tags and any(existing.tags.get(k) != v for k, v in tags.items()):
                raise invalid_parameter("Tags Reason: Topic already exists with different tags")
            return {"TopicArn": existing.arn}
        topic = Topic(ctx.account_id, ctx.region, name, attrs, tags)
        self.directory.put_topic(topic)
        return {"TopicArn": topic.arn}

    @operation("DeleteTopic")
    def delete_topic(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        parsed = parse_topic_arn(params["TopicArn"])
        if parsed is None:
            raise invalid_parameter("TopicArn")
        topic = self.directory.find_topic(*parsed)
        if topic is not None:
            self.directory.delete_topic(require(ctx, topic, "DeleteTopic"))
        return {}

    @operation("ListTopics")
    def list_topics(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topics, token = self.directory.list_topics(ctx.account_id, ctx.region, params.get("NextToken"))
        out: dict[str, Any] = {"Topics": [{"TopicArn": t.arn} for t in topics]}
        if token:
            out["NextToken"] = token
        return out

    @operation("GetTopicAttributes")
    def get_topic_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = require(ctx, self.directory.topic(params["TopicArn"]), "GetTopicAttributes")
        subs = self.directory.subscriptions_of(topic)
        attrs = {
            "Policy": default_topic_policy(topic.arn, topic.account),
            "Owner": topic.account,
            "TopicArn": topic.arn,
            "DisplayName": "",
            "SubscriptionsPending": str(sum(1 for s in subs if s.pending)),
            "SubscriptionsConfirmed": str(sum(1 for s in subs if not s.pending)),
            "SubscriptionsDeleted": str(topic.deleted_subs),
            "EffectiveDeliveryPolicy": json.dumps(
                effective_delivery_policy(topic.attributes.get("DeliveryPolicy")), separators=(",", ":")
            ),
        }
        if topic.fifo:
            attrs["ContentBasedDeduplication"] = "false"
        attrs.update(topic.attributes)
        return {"Attributes": attrs}

    @operation("SetTopicAttributes")
    def set_topic_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = require(ctx, self.directory.topic(params["TopicArn"]), "SetTopicAttributes")
        name, value = params["AttributeName"], params.get("AttributeValue") or ""
        attrs = dict(topic.attributes)
        if value == "" and name in ("DeliveryPolicy", "Policy", "DisplayName", "KmsMasterKeyId"):
            attrs.pop(name, None)
        else:
            attrs[name] = check_topic_attribute(name, value, fifo=topic.fifo, creating=False)
        self.directory.put_topic(replace(topic, attributes=attrs))
        return {}

    # -- permissions ----------------------------------------------------------------------

    def _policy(self, topic: Topic) -> dict[str, Any]:
        raw = topic.attributes.get("Policy") or default_topic_policy(topic.arn, topic.account)
        doc: dict[str, Any] = json.loads(raw)
        doc["Statement"] = doc["Statement"] if isinstance(doc.get("Statement"), list) else [doc["Statement"]]
        return doc

    @operation("AddPermission")
    def add_permission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = require(ctx, self.directory.topic(params["TopicArn"]), "AddPermission")
        policy = self._policy(topic)
        label: str = params["Label"]
        if any(st.get("Sid") == label for st in policy["Statement"]):
            raise invalid_parameter("Statement already exists")
        actions = [f"SNS:{a}" for a in params["ActionName"]]
        principals = [f"arn:aws:iam::{a}:root" for a in params["AWSAccountId"]]
        policy["Statement"].append(
            {
                "Sid": label,
                "Effect": "Allow",
                "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
                "Action": actions[0] if len(actions) == 1 else actions,
                "Resource": topic.arn,
            }
        )
        attrs = {**topic.attributes, "Policy": json.dumps(policy, separators=(",", ":"))}
        self.directory.put_topic(replace(topic, attributes=attrs))
        return {}

    @operation("RemovePermission")
    def remove_permission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = require(ctx, self.directory.topic(params["TopicArn"]), "RemovePermission")
        policy = self._policy(topic)
        kept = [st for st in policy["Statement"] if st.get("Sid") != params["Label"]]
        if len(kept) == len(policy["Statement"]):
            raise invalid_parameter(f"Label {params['Label']} does not exist")
        policy["Statement"] = kept
        attrs = {**topic.attributes, "Policy": json.dumps(policy, separators=(",", ":"))}
        self.directory.put_topic(replace(topic, attributes=attrs))
        return {}

    # -- tags -----------------------------------------------------------------------------

    def _tagged(self, ctx: RequestContext, arn: str) -> Topic:
        parsed = parse_topic_arn(arn)
        topic = self.directory.find_topic(*parsed) if parsed else None
        if topic is None:
            raise resource_not_found()
        return require(ctx, topic, ctx.operation)

    @operation("TagResource")
    def tag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = self._tagged(ctx, params["ResourceArn"])
        tags = {**topic.tags, **tag_dict(params["Tags"])}
        if len(tags) > MAX_TAGS:
            raise tag_limit()
        self.directory.put_topic(replace(topic, tags=tags))
        return {}

    @operation("UntagResource")
    def untag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = self._tagged(ctx, params["ResourceArn"])
        drop = set(params["TagKeys"])
        self.directory.put_topic(replace(topic, tags={k: v for k, v in topic.tags.items() if k not in drop}))
        return {}

    @operation("ListTagsForResource")
    def list_tags_for_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = self._tagged(ctx, params["ResourceArn"])
        return {"Tags": [{"Key": k, "Value": v} for k, v in topic.tags.items()]}


def tag_limit() -> ServiceError:
    return ServiceError(
        "TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded", 400
    )
