"""Subscribe, ConfirmSubscription, Unsubscribe, ListSubscriptions(ByTopic), Get/SetSubscriptionAttributes."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from squall.services.base import RequestContext
from squall.services.operations import operation
from squall.services.resource_policy import not_authorized_message
from squall.services.sns import filtering
from squall.services.sns.errors import authorization_error, invalid_parameter
from squall.services.sns.policies import (
    check_delivery_policy,
    effective_delivery_policy,
    parse_json_attribute,
)
from squall.services.sns.records import Directory, Subscription, Topic, parse_topic_arn
from squall.services.sns.topic_policy import require

PROTOCOLS = frozenset(
    {"http", "https", "email", "email-json", "sms", "sqs", "application", "lambda", "firehose"}
)
#: Protocols whose subscriptions wait for the endpoint to confirm.
CONFIRMED_BY_ENDPOINT = frozenset({"http", "https", "email", "email-json"})
RAW_CAPABLE = frozenset({"sqs", "http", "https", "firehose"})
SUB_ATTRIBUTES = frozenset(
    {
        "DeliveryPolicy",
        "FilterPolicy",
        "FilterPolicyScope",
        "RawMessageDelivery",
        "RedrivePolicy",
        "SubscriptionRoleArn",
        "ReplayPolicy",
    }
)
PENDING = "pending confirmation"

#: Called with a subscription and "SubscriptionConfirmation" / "UnsubscribeConfirmation".
Confirmations = Callable[[Subscription, str], None]


def _is_arn(value: str, service: str) -> bool:
    parts = value.split(":")
    return len(parts) >= 6 and parts[0] == "arn" and parts[2] == service and all(parts[3:6])


def check_endpoint(protocol: str, endpoint: str) -> None:
    if protocol not in PROTOCOLS:
        raise invalid_parameter(f"Amazon SNS does not support this protocol string: {protocol}")
    if protocol == "sqs" and not _is_arn(endpoint, "sqs"):
        raise invalid_parameter("SQS endpoint ARN")
    if protocol == "lambda" and not _is_arn(endpoint, "lambda"):
        raise invalid_parameter("Lambda endpoint ARN")
    if protocol in ("http", "https") and not endpoint.lower().startswith(f"{protocol}://"):
        raise invalid_parameter("Endpoint must match the specified protocol")
    if protocol in ("email", "email-json") and "@" not in endpoint:
        raise invalid_parameter("Email address")
    if protocol == "sms" and not endpoint.lstrip("+").isdigit():
        raise invalid_parameter(f"Invalid SMS endpoint: {endpoint}")


def check_sub_attribute(
    protocol: str, name: str, value: str, scope: str | None = None, *, subscribing: bool = False
) -> str:
    """Validate one attribute; `scope` is the FilterPolicyScope a FilterPolicy is checked for;
    `subscribing`: given to Subscribe (whose messages name the Attributes parameter)."""
    if name not in SUB_ATTRIBUTES:
        raise invalid_parameter("AttributeName")
    if name == "RawMessageDelivery":
        if value.lower() not in ("true", "false"):
            raise invalid_parameter("Attributes Reason: RawMessageDelivery: Invalid value [" + value + "]")
        if protocol not in RAW_CAPABLE:  # even "false", as AWS
            raise invalid_parameter(f"Delivery protocol [{protocol}] does not support raw message delivery.")
        return value.lower()
    if name == "FilterPolicy" and value:
        filtering.check(value, scope, subscribing=subscribing)
    elif name == "FilterPolicyScope" and value not in ("MessageAttributes", "MessageBody"):
        raise invalid_parameter("Attributes Reason: FilterPolicyScope: Invalid value [" + value + "]")
    elif name == "RedrivePolicy" and value:
        doc = parse_json_attribute("RedrivePolicy", value)
        target = doc.get("deadLetterTargetArn") if isinstance(doc, dict) else None
        if not isinstance(target, str) or not _is_arn(target, "sqs"):
            raise invalid_parameter("RedrivePolicy: deadLetterTargetArn is an invalid arn")
    elif name == "DeliveryPolicy" and value:
        if protocol not in ("http", "https"):
            raise invalid_parameter("DeliveryPolicy: only http and https subscriptions have one")
        check_delivery_policy(value, topic=False)
    return value


class SubscriptionsApi:
    def __init__(self, directory: Directory, confirmations: Confirmations) -> None:
        self.directory = directory
        self.confirmations = confirmations

    @operation("Subscribe")
    def subscribe(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = require(ctx, self.directory.topic(params["TopicArn"]), "Subscribe")
        protocol: str = params["Protocol"]
        endpoint: str = params.get("Endpoint") or ""
        check_endpoint(protocol, endpoint)
        if topic.fifo and protocol != "sqs":
            raise invalid_parameter(f"Invalid protocol type: {protocol}")
        if not topic.fifo and protocol == "sqs" and endpoint.endswith(".fifo"):
            raise invalid_parameter(
                "Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics"
            )
        given: dict[str, str] = params.get("Attributes") or {}
        scope = given.get("FilterPolicyScope")
        attrs = {k: check_sub_attribute(protocol, k, v, scope, subscribing=True) for k, v in given.items()}
        for sub in self.directory.subscriptions_of(topic):
            if sub.protocol == protocol and sub.endpoint == endpoint:
                if any(sub.attributes.get(k, "") != v for k, v in attrs.items()):
                    raise invalid_parameter(
                        "Attributes Reason: Subscription already exists with different attributes"
                    )
                return {"SubscriptionArn": self._shown(sub, params)}
        pending = protocol in CONFIRMED_BY_ENDPOINT
        sub = Subscription(
            arn=self.directory.new_subscription_arn(topic),
            topic_arn=topic.arn,
            protocol=protocol,
            endpoint=endpoint,
            owner=ctx.account_id,
            attributes=attrs,
            pending=pending,
            token=secrets.token_hex(64) if pending else None,
        )
        self.directory.put_subscription(sub)
        if protocol in ("http", "https"):
            self.confirmations(sub, "SubscriptionConfirmation")
        return {"SubscriptionArn": self._shown(sub, params)}

    @staticmethod
    def _shown(sub: Subscription, params: dict[str, Any]) -> str:
        return PENDING if sub.pending and not params.get("ReturnSubscriptionArn") else sub.arn

    @operation("ConfirmSubscription")
    def confirm_subscription(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        strict = str(params.get("AuthenticateOnUnsubscribe", "")).lower() == "true"
        return {"SubscriptionArn": self.confirm(params["TopicArn"], params["Token"], strict).arn}

    def confirm(self, topic_arn: str, token: str, authenticate_unsubscribe: bool = False) -> Subscription:
        """Confirm the subscription `token` was issued for (InvalidParameter "Invalid token" otherwise)."""
        topic = self.directory.topic(topic_arn)
        for sub in self.directory.subscriptions_of(topic):
            if sub.token is not None and secrets.compare_digest(sub.token, token):
                if sub.pending:
                    sub = replace(
                        sub,
                        pending=False,
                        authenticated=True,
                        authenticate_unsubscribe=authenticate_unsubscribe,
                    )
                    self.directory.put_subscription(sub)
                return sub
        raise invalid_parameter("Invalid token")

    @operation("Unsubscribe")
    def unsubscribe(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self._owned(ctx, self.directory.subscription(params["SubscriptionArn"]))
        self.remove(params["SubscriptionArn"])
        return {}

    @staticmethod
    def _owned(ctx: RequestContext, sub: Subscription) -> Subscription:
        """`sub` if the caller's account owns it or its topic (AuthorizationError otherwise: another
        account can neither read, change nor remove a subscription it does not own)."""
        topic_owner = sub.arn.split(":")[4] if sub.arn.count(":") >= 5 else ""
        if ctx.account_id in (sub.owner, topic_owner):
            return sub
        action = f"SNS:{ctx.operation}"
        raise authorization_error(not_authorized_message(ctx.principal, action, sub.arn))

    def remove(self, arn: str) -> None:
        sub = self.directory.subscription(arn)
        self.directory.remove_subscription(sub)
        if sub.protocol in ("http", "https"):
            self.confirmations(sub, "UnsubscribeConfirmation")

    @operation("ListSubscriptions")
    def list_subscriptions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        subs, token = self.directory.list_subscriptions(ctx.account_id, ctx.region, params.get("NextToken"))
        return _listing(subs, token)

    @operation("ListSubscriptionsByTopic")
    def list_subscriptions_by_topic(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic: Topic = require(ctx, self.directory.topic(params["TopicArn"]), "ListSubscriptionsByTopic")
        subs, token = self.directory.list_subscriptions(
            topic.account, topic.region, params.get("NextToken"), topic=topic
        )
        return _listing(subs, token)

    @operation("GetSubscriptionAttributes")
    def get_subscription_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        sub = self._owned(ctx, self.directory.subscription(params["SubscriptionArn"]))
        attrs = {
            "ConfirmationWasAuthenticated": str(sub.authenticated).lower(),
            "Endpoint": sub.endpoint,
            "Owner": sub.owner,
            "PendingConfirmation": str(sub.pending).lower(),
            "Protocol": sub.protocol,
            "RawMessageDelivery": "false",
            "SubscriptionArn": sub.arn,
            "TopicArn": sub.topic_arn,
            "SubscriptionPrincipal": f"arn:aws:iam::{sub.owner}:root",
        }
        if sub.protocol in ("http", "https"):
            parsed = parse_topic_arn(sub.topic_arn)
            topic = self.directory.find_topic(*parsed) if parsed else None
            topic_policy = topic.attributes.get("DeliveryPolicy") if topic else None
            policy = effective_delivery_policy(topic_policy, sub.attributes.get("DeliveryPolicy"))
            attrs["EffectiveDeliveryPolicy"] = json.dumps(policy["http"], separators=(",", ":"))
        if sub.attributes.get("FilterPolicy"):
            attrs["FilterPolicyScope"] = "MessageAttributes"
        attrs.update({k: v for k, v in sub.attributes.items() if v != ""})
        return {"Attributes": attrs}

    @operation("SetSubscriptionAttributes")
    def set_subscription_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        sub = self._owned(ctx, self.directory.subscription(params["SubscriptionArn"]))
        name, value = params["AttributeName"], params.get("AttributeValue") or ""
        value = check_sub_attribute(sub.protocol, name, value, sub.attributes.get("FilterPolicyScope"))
        if name == "FilterPolicyScope" and sub.attributes.get("FilterPolicy"):
            filtering.check(sub.attributes["FilterPolicy"], value)
        self.directory.put_subscription(sub.with_attributes(**{name: value or None}))
        return {}


def _listing(subs: list[Subscription], token: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Subscriptions": [
            {
                "SubscriptionArn": "PendingConfirmation" if s.pending else s.arn,
                "Owner": s.owner,
                "Protocol": s.protocol,
                "Endpoint": s.endpoint,
                "TopicArn": s.topic_arn,
            }
            for s in subs
        ]
    }
    if token:
        out["NextToken"] = token
    return out
