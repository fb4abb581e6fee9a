"""The shared resource-policy evaluator (services/resource_policy.py)."""

from __future__ import annotations

import json
from typing import Any

from squall.services.context import ANONYMOUS, Principal
from squall.services.resource_policy import Decision, allowed, decide, parse

A, B = "000000000000", "111111111111"
Q = f"arn:aws:sqs:us-east-1:{A}:q"


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(principal: Any, action: Any = "sqs:*", resource: Any = Q, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": resource, **extra}


def test_same_account_needs_no_policy_and_other_accounts_do() -> None:
    assert allowed(A, None, Principal.root(A), "sqs:SendMessage", Q)
    assert not allowed(A, None, Principal.root(B), "sqs:SendMessage", Q)
    assert not allowed(A, "not json", Principal.root(B), "sqs:SendMessage", Q)
    assert not allowed(A, doc(allow("*")), ANONYMOUS, "sqs:SendMessage", f"{Q}2")


def test_principal_forms() -> None:
    role = Principal.role_session(f"arn:aws:iam::{B}:role/path/r", "s")
    user = Principal.signer(B, f"arn:aws:iam::{B}:user/u", "AKID")
    sns = Principal.for_service("sns.amazonaws.com", B, source_arn=f"arn:aws:sns:us-east-1:{B}:t")
    cases = {
        B: (True, True, False),
        f"arn:aws:iam::{B}:root": (True, True, False),
        f"arn:aws:iam::{B}:role/r": (True, False, False),
        f"arn:aws:iam::{B}:role/other": (False, False, False),
        f"arn:aws:iam::{B}:user/u": (False, True, False),
        f"arn:aws:iam::{A}:root": (False, False, False),
    }
    for name, (want_role, want_user, want_sns) in cases.items():
        raw = doc(allow({"AWS": name}))
        got = tuple(decide(raw, p, "sqs:SendMessage", Q) is Decision.ALLOW for p in (role, user, sns))
        assert got == (want_role, want_user, want_sns), name
    assert decide(doc(allow({"Service": "sns.amazonaws.com"})), sns, "sqs:SendMessage", Q) is Decision.ALLOW
    assert (
        decide(doc(allow({"Service": "sns.amazonaws.com"})), user, "sqs:SendMessage", Q) is not Decision.ALLOW
    )
    assert decide(doc(allow("*")), sns, "sqs:SendMessage", Q) is Decision.ALLOW


def test_actions_resources_and_explicit_deny() -> None:
    p = Principal.root(B)
    raw = doc(allow({"AWS": B}, ["SQS:Send*", "sqs:ReceiveMessage"], "arn:aws:sqs:*:*:q"))
    assert decide(raw, p, "sqs:SendMessageBatch", Q) is Decision.ALLOW
    assert decide(raw, p, "sqs:PurgeQueue", Q) is Decision.IMPLICIT_DENY
    assert decide(raw, p, "sqs:SendMessage", f"{Q}x") is Decision.IMPLICIT_DENY
    denied = doc(allow("*"), {"Effect": "Deny", "Principal": "*", "NotAction": "sqs:Receive*", "Resource": Q})
    assert decide(denied, p, "sqs:SendMessage", Q) is Decision.DENY
    assert decide(denied, p, "sqs:ReceiveMessage", Q) is Decision.ALLOW


def test_conditions() -> None:
    topic = f"arn:aws:sns:us-east-1:{B}:t"
    sns = Principal.for_service("sns.amazonaws.com", B, source_arn=topic)
    other = Principal.for_service("sns.amazonaws.com", B, source_arn=f"{topic}2")

    def ok(cond: dict[str, Any], who: Principal = sns) -> bool:
        return decide(doc(allow("*", Condition=cond)), who, "sqs:SendMessage", Q) is Decision.ALLOW

    assert ok({"ArnEquals": {"aws:SourceArn": topic}}) and not ok(
        {"ArnEquals": {"aws:SourceArn": topic}}, other
    )
    assert ok({"ArnLike": {"AWS:SourceArn": "arn:aws:sns:*:*:t"}})
    assert ok({"StringEquals": {"aws:SourceAccount": B}}) and not ok(
        {"StringEquals": {"aws:SourceAccount": A}}
    )
    assert ok({"StringEquals": {"AWS:SourceOwner": B}})
    assert ok({"StringNotEquals": {"aws:SourceAccount": A}})
    assert ok({"StringLike": {"aws:SourceArn": "*:t"}})
    # a key the request does not have: the plain operator fails, IfExists and Null hold
    root_b = Principal.root(B)
    assert not ok({"ArnLike": {"aws:SourceArn": "*"}}, root_b)
    assert ok({"ArnLikeIfExists": {"aws:SourceArn": "arn:nothing"}}, root_b)
    assert ok({"Null": {"aws:SourceArn": "true"}}, root_b)
    assert ok({"StringEquals": {"aws:PrincipalAccount": B}}, root_b)
    # an operator Squall does not know grants nothing, and a Deny with one applies (fail closed)
    assert not ok({"NumericLessThan": {"aws:EpochTime": "1"}})
    deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "*",
        "Condition": {"DateLessThan": {"aws:CurrentTime": "x"}},
    }
    assert decide(doc(allow("*"), deny), sns, "sqs:SendMessage", Q) is Decision.DENY


def test_parse_is_memoised_and_a_changed_policy_is_a_new_decision() -> None:
    raw = doc(allow({"AWS": B}))
    assert parse(raw) is parse(raw)
    assert decide(raw, Principal.root(B), "sqs:SendMessage", Q) is Decision.ALLOW
    assert decide(doc(allow({"AWS": A})), Principal.root(B), "sqs:SendMessage", Q) is Decision.IMPLICIT_DENY


def test_wildcards_match_in_linear_time() -> None:
    import time

    from squall.services.resource_policy import wildcard_match

    assert wildcard_match("arn:aws:sqs:*:*:q?", "arn:aws:sqs:us-east-1:0:q1")
    assert not wildcard_match("arn:aws:sqs:*:*:q?", "arn:aws:sqs:us-east-1:0:q12")
    assert wildcard_match("SQS:Send*", "sqs:SendMessage", ignore_case=True)
    assert wildcard_match("*", "") and not wildcard_match("?", "")
    # a hostile policy pattern: a regex of 30 `.*` backtracks for ages on this; the walk does not
    start = time.monotonic()
    assert not wildcard_match("*a" * 30 + "b", "a" * 2000)
    assert time.monotonic() - start < 1.0
