"""Default topic access policy and the HTTP/S delivery policy (AWS's retry phases)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson

from squall.services.sns.errors import invalid_parameter

DEFAULT_HTTP_POLICY: dict[str, Any] = {
    "defaultHealthyRetryPolicy": {
        "minDelayTarget": 20,
        "maxDelayTarget": 20,
        "numRetries": 3,
        "numMaxDelayRetries": 0,
        "numNoDelayRetries": 0,
        "numMinDelayRetries": 0,
        "backoffFunction": "linear",
    },
    "disableSubscriptionOverrides": False,
    "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"},
}
BACKOFF = ("linear", "arithmetic", "geometric", "exponential")


def default_topic_policy(topic_arn: str, account: str) -> str:
    actions = [
        "SNS:GetTopicAttributes",
        "SNS:SetTopicAttributes",
        "SNS:AddPermission",
        "SNS:RemovePermission",
        "SNS:DeleteTopic",
        "SNS:Subscribe",
        "SNS:ListSubscriptionsByTopic",
        "SNS:Publish",
    ]
    statement = {
        "Sid": "__default_statement_ID",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": actions,
        "Resource": topic_arn,
        "Condition": {"StringEquals": {"AWS:SourceOwner": account}},
    }
    policy = {"Version": "2008-10-17", "Id": "__default_policy_ID", "Statement": [statement]}
    return json.dumps(policy, separators=(",", ":"))


def parse_json_attribute(name: str, value: str) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        raise invalid_parameter(f"{name}: failed to parse JSON.") from None


def check_delivery_policy(value: str, *, topic: bool) -> None:
    """Validate a topic's ({"http": {...}}) or a subscription's ({"healthyRetryPolicy": ...}) policy."""
    doc = parse_json_attribute("DeliveryPolicy", value)
    if not isinstance(doc, dict):
        raise invalid_parameter("DeliveryPolicy: must be a JSON object")
    http = doc.get("http", {}) if topic else doc
    retry = http.get("defaultHealthyRetryPolicy" if topic else "healthyRetryPolicy")
    if retry is not None:
        RetryPolicy.from_json(retry)


@dataclass(frozen=True)
class RetryPolicy:
    """An HTTP/S healthy retry policy: immediate, pre-backoff, backoff and post-backoff phases."""

    min_delay: int = 20
    max_delay: int = 20
    retries: int = 3
    no_delay: int = 0
    min_delay_retries: int = 0
    max_delay_retries: int = 0
    backoff: str = "linear"

    @classmethod
    def from_json(cls, doc: Any) -> RetryPolicy:
        if not isinstance(doc, dict):
            raise invalid_parameter("DeliveryPolicy: healthyRetryPolicy must be an object")
        try:
            policy = cls(
                min_delay=int(doc.get("minDelayTarget", 20)),
                max_delay=int(doc.get("maxDelayTarget", 20)),
                retries=int(doc.get("numRetries", 3)),
                no_delay=int(doc.get("numNoDelayRetries", 0)),
                min_delay_retries=int(doc.get("numMinDelayRetries", 0)),
                max_delay_retries=int(doc.get("numMaxDelayRetries", 0)),
                backoff=str(doc.get("backoffFunction", "linear")),
            )
        except (TypeError, ValueError):
            raise invalid_parameter("DeliveryPolicy: numbers expected") from None
        if not 1 <= policy.min_delay <= policy.max_delay <= 3600:
            raise invalid_parameter("DeliveryPolicy: minDelayTarget must be between 1 and maxDelayTarget")
        if not 0 <= policy.retries <= 100 or policy.backoff not in BACKOFF:
            raise invalid_parameter("DeliveryPolicy: numRetries must be 0..100 and backoffFunction valid")
        if policy.no_delay + policy.min_delay_retries + policy.max_delay_retries > policy.retries:
            raise invalid_parameter("DeliveryPolicy: phase retries exceed numRetries")
        return policy

    def delay(self, retry: int) -> float | None:
        """Seconds before retry number `retry` (1-based); None when the retries are used up."""
        if retry > self.retries:
            return None
        if retry <= self.no_delay:
            return 0.0
        if retry <= self.no_delay + self.min_delay_retries:
            return float(self.min_delay)
        backoff_n = self.retries - self.no_delay - self.min_delay_retries - self.max_delay_retries
        step = retry - self.no_delay - self.min_delay_retries
        if step > backoff_n:
            return float(self.max_delay)
        if backoff_n <= 1:
            return float(self.min_delay)
        frac = (step - 1) / (backoff_n - 1)
        span = self.max_delay - self.min_delay
        if self.backoff == "exponential":
            shape = 2**frac - 1
        elif self.backoff == "geometric":
            shape = frac**3
        elif self.backoff == "arithmetic":
            shape = frac**2
        else:
            shape = frac
        return self.min_delay + span * shape


def effective_delivery_policy(topic_policy: str | None, sub_policy: str | None = None) -> dict[str, Any]:
    http = json.loads(json.dumps(DEFAULT_HTTP_POLICY))
    if topic_policy:
        http.update(orjson.loads(topic_policy).get("http", {}))
    if sub_policy and not http.get("disableSubscriptionOverrides"):
        sub = orjson.loads(sub_policy)
        if "healthyRetryPolicy" in sub:
            http["defaultHealthyRetryPolicy"] = {
                **DEFAULT_HTTP_POLICY["defaultHealthyRetryPolicy"],
                **sub["healthyRetryPolicy"],
            }
        if "requestPolicy" in sub:
            http["defaultRequestPolicy"] = sub["requestPolicy"]
    return {"http": http}


def retry_policy_for(topic_policy: str | None, sub_policy: str | None) -> tuple[RetryPolicy, str]:
    """The retry policy and Content-Type header an HTTP/S subscription is delivered with."""
    http = effective_delivery_policy(topic_policy, sub_policy)["http"]
    content_type = http.get("defaultRequestPolicy", {}).get("headerContentType", "text/plain; charset=UTF-8")
    return RetryPolicy.from_json(http["defaultHealthyRetryPolicy"]), content_type
