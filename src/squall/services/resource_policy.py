"""Resource policies: the one evaluator every service uses for what crosses accounts.

A resource policy (an SQS queue's `Policy`, an SNS topic's `Policy`, a Lambda
function's statements from AddPermission, an S3 bucket policy) decides whether
a principal of *another* account, or an AWS service principal, may act on the
resource. Until identity policies exist (the IAM issue) the rule is AWS's for a
caller without any identity policy:

- the resource's own account is allowed (`allowed` returns at once when the
  accounts match: nothing is parsed or looked up on the same-account path);
- another account, or a service principal acting for one, is allowed only when
  a statement of the resource's policy allows it and none denies it (explicit
  `Deny` wins; no matching statement is an implicit deny).

What a statement may say, and what is evaluated:

- `Principal` / `NotPrincipal`: `"*"`, `{"AWS": ...}` with account ids,
  `arn:aws:iam::ACCOUNT:root`, user and role ARNs (a role ARN matches its
  sessions), assumed-role session ARNs, `"*"`; `{"Service": ...}` with service
  principal names (`sns.amazonaws.com`).
- `Action` / `NotAction`: case-insensitive, with `*` and `?` wildcards.
- `Resource` / `NotResource`: case-sensitive, with wildcards; absent means any.
- `Condition`: the String*, Arn*, Bool and Null operators, their `IfExists`
  forms, the `ForAnyValue:` / `ForAllValues:` qualifiers, on the keys Squall
  knows about a request: `aws:PrincipalAccount`, `aws:PrincipalArn`,
  `aws:PrincipalType`, `aws:PrincipalServiceName`, `aws:SourceArn`,
  `aws:SourceAccount`, `aws:SourceOwner`, plus any the caller passes (keys are
  case-insensitive). An operator Squall does not know makes an `Allow`
  statement grant nothing and a `Deny` statement apply (fail closed).

Policies are parsed once per distinct text (`parse` is memoised by the raw
JSON), and decisions are memoised by (policy text, principal, action,
resource): a changed policy is a new text, so a withdrawn grant takes effect on
the next check without any invalidation hook, and a poller that asks every
batch pays a dictionary lookup. The IAM issue extends this module (identity
policies as another `Policy` evaluated alongside) rather than replacing it.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from squall.services.context import Principal, PrincipalKind


class Decision(enum.Enum):
    ALLOW = "allow"
    #: An explicit Deny statement matched.
    DENY = "deny"
    #: No statement matched.
    IMPLICIT_DENY = "implicit-deny"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str) -> bool:
    """`*` (any run) and `?` (one character) matching without backtracking: the greedy
    two-pointer walk, O(len(pattern) * len(value)) at worst (a tenant's policy cannot make it
    exponential, unlike a regex of many `.*`)."""
    p = v = 0
    star = -1
    mark = 0
    while v < len(value):
        if p < len(pattern) and (pattern[p] == "?" or pattern[p] == value[v]):
            p += 1
            v += 1
        elif p < len(pattern) and pattern[p] == "*":
            star, mark = p, v
            p += 1
        elif star >= 0:
            p = star + 1
            mark += 1
            v = mark
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    if "*" not in pattern and "?" not in pattern:
        return pattern == value
    return _glob(pattern, value)


# -- principals ---------------------------------------------------------------------------------

_IAM_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:iam::(\d{12}):(root|user/.+|role/.+)$")
_STS_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:sts::(\d{12}):assumed-role/([^/]+)/(.+)$")


def _aws_principal_matches(wanted: str, principal: Principal) -> bool:
    """Whether one `{"AWS": wanted}` entry names `principal`."""
    if wanted == "*":
        return True
    if principal.kind in (PrincipalKind.SERVICE, PrincipalKind.ANONYMOUS):
        return False
    account = principal.account_id
    if wanted.isdigit():
        return wanted == account
    if principal.arn is not None and wanted == principal.arn:
        return True
    m = _IAM_ARN.match(wanted)
    if m is None or m.group(1) != account:
        return False
    what = m.group(2)
    if what == "root":
        return True  # the account: any of its principals (their identity policies are IAM's)
    if what.startswith("role/") and principal.kind is PrincipalKind.ROLE_SESSION and principal.arn:
        s = _STS_ARN.match(principal.arn)
        return s is not None and s.group(2) == what.rsplit("/", 1)[-1]
    return False


def _principal_matches(element: Any, principal: Principal) -> bool:
    if element == "*":
        return True
    if not isinstance(element, dict):
        return False
    for kind, names in element.items():
        if kind == "AWS":
            if any(_aws_principal_matches(str(n), principal) for n in _as_list(names)):
                return True
        elif (
            kind == "Service"
            and principal.kind is PrincipalKind.SERVICE
            and principal.service in {str(n) for n in _as_list(names)}
        ):
            return True
    return False


# -- conditions ---------------------------------------------------------------------------------


def _string_eq(want: str, got: str) -> bool:
    return want == got


def _string_eq_ci(want: str, got: str) -> bool:
    return want.lower() == got.lower()


def _string_like(want: str, got: str) -> bool:
    return wildcard_match(want, got)


def _arn_like(want: str, got: str) -> bool:
    """ArnLike/ArnEquals: the six colon-separated parts compared one by one, with wildcards."""
    w, g = want.split(":", 5), got.split(":", 5)
    if len(w) != 6 or len(g) != 6:
        return False
    return all(wildcard_match(a, b) for a, b in zip(w, g, strict=True))


def _bool(want: str, got: str) -> bool:
    return want.lower() == got.lower()


#: operator -> (value test, negated)
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "stringequals": (_string_eq, False),
    "stringnotequals": (_string_eq, True),
    "stringequalsignorecase": (_string_eq_ci, False),
    "stringnotequalsignorecase": (_string_eq_ci, True),
    "stringlike": (_string_like, False),
    "stringnotlike": (_string_like, True),
    "arnequals": (_arn_like, False),
    "arnlike": (_arn_like, False),
    "arnnotequals": (_arn_like, True),
    "arnnotlike": (_arn_like, True),
    "bool": (_bool, False),
}


class _Unknown(Exception):
    """A condition operator this evaluator does not know."""


def _condition_holds(operator: str, key: str, wanted: Any, context: Mapping[str, str]) -> bool:
    op = operator.lower()
    qualifier = ""
    if ":" in op:
        qualifier, op = op.split(":", 1)
        if qualifier not in ("foranyvalue", "forallvalues"):
            raise _Unknown(operator)
    got = context.get(key.lower())
    wants = [str(w) for w in _as_list(wanted)]
    if op == "null":
        want_null = any(w.lower() == "true" for w in wants)
        return (got is None) == want_null
    if_exists = op.endswith("ifexists")
    if if_exists:
        op = op[: -len("ifexists")]
    found = _OPERATORS.get(op)
    if found is None:
        raise _Unknown(operator)
    test, negated = found
    if got is None:
        # a missing key: IfExists and negated operators hold, the others do not
        return if_exists or negated or qualifier == "forallvalues"
    matched = any(test(w, got) for w in wants)
    return not matched if negated else matched


def _conditions_hold(block: Any, context: Mapping[str, str]) -> bool:
    if not block:
        return True
    if not isinstance(block, dict):
        raise _Unknown("Condition")
    for operator, tests in block.items():
        if not isinstance(tests, dict):
            raise _Unknown(str(operator))
        for key, wanted in tests.items():
            if not _condition_holds(str(operator), str(key), wanted, context):
                return False
    return True


# -- statements and policies --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Statement:
    effect: str  # "Allow" | "Deny"
    principal: Any
    not_principal: Any
    actions: tuple[str, ...]
    not_actions: tuple[str, ...] | None
    resources: tuple[str, ...] | None  # None: any resource
    not_resources: tuple[str, ...] | None
    condition: Any

    @classmethod
    def of(cls, raw: Any) -> Statement | None:
        if not isinstance(raw, dict) or raw.get("Effect") not in ("Allow", "Deny"):
            return None

        def strings(key: str) -> tuple[str, ...] | None:
            return tuple(str(v) for v in _as_list(raw[key])) if key in raw else None

        return cls(
            raw["Effect"],
            raw.get("Principal"),
            raw.get("NotPrincipal"),
            strings("Action") or (),
            strings("NotAction"),
            strings("Resource"),
            strings("NotResource"),
            raw.get("Condition"),
        )

    def applies(self, principal: Principal, action: str, resource: str, context: Mapping[str, str]) -> bool:
        if self.not_principal is not None:
            if _principal_matches(self.not_principal, principal):
                return False
        elif not _principal_matches(self.principal, principal):
            return False
        if self.not_actions is not None:
            if any(wildcard_match(a, action, ignore_case=True) for a in self.not_actions):
                return False
        elif not any(wildcard_match(a, action, ignore_case=True) for a in self.actions):
            return False
        if self.not_resources is not None:
            if any(wildcard_match(r, resource) for r in self.not_resources):
                return False
        elif self.resources is not None and not any(wildcard_match(r, resource) for r in self.resources):
            return False
        try:
            return _conditions_hold(self.condition, context)
        except _Unknown:
            return self.effect == "Deny"  # fail closed


@dataclass(frozen=True, slots=True)
class Policy:
    statements: tuple[Statement, ...]

    @classmethod
    def of_statements(cls, raw: Iterable[Any]) -> Policy:
        return cls(tuple(s for s in (Statement.of(r) for r in raw) if s is not None))

    def evaluate(
        self,
        principal: Principal,
        action: str,
        resource: str,
        context: Mapping[str, str] | None = None,
    ) -> Decision:
        """This policy's answer for `principal` doing `action` on `resource` (explicit deny
        wins over allow)."""
        ctx = request_context(principal, context)
        decision = Decision.IMPLICIT_DENY
        for st in self.statements:
            if st.applies(principal, action, resource, ctx):
                if st.effect == "Deny":
                    return Decision.DENY
                decision = Decision.ALLOW
        return decision


EMPTY = Policy(())


@functools.lru_cache(maxsize=1024)
def parse(raw: str) -> Policy:
    """The policy of a JSON document (memoised by its text); a document that is not a policy
    grants nothing."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return EMPTY
    if not isinstance(doc, dict):
        return EMPTY
    return Policy.of_statements(_as_list(doc.get("Statement")))


def request_context(principal: Principal, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The global condition keys Squall knows about a request by `principal` (lower-cased keys)."""
    ctx: dict[str, str] = {}
    if principal.kind is PrincipalKind.SERVICE:
        ctx["aws:principaltype"] = "Service"
        if principal.service:
            ctx["aws:principalservicename"] = principal.service
        if principal.source_arn:
            ctx["aws:sourcearn"] = principal.source_arn
        if principal.account_id:
            ctx["aws:sourceaccount"] = principal.account_id
            ctx["aws:sourceowner"] = principal.account_id
    elif principal.kind is not PrincipalKind.ANONYMOUS:
        ctx["aws:principalaccount"] = principal.account_id
        ctx["aws:principaltype"] = {
            PrincipalKind.ROOT: "Account",
            PrincipalKind.USER: "User",
            PrincipalKind.ROLE_SESSION: "AssumedRole",
        }[principal.kind]
        arn = principal.arn or f"arn:aws:iam::{principal.account_id}:root"
        s = _STS_ARN.match(arn)
        ctx["aws:principalarn"] = f"arn:aws:iam::{s.group(1)}:role/{s.group(2)}" if s else arn
    if extra:
        ctx.update({k.lower(): v for k, v in extra.items()})
    return ctx


@functools.lru_cache(maxsize=8192)
def _decide(raw: str, principal: Principal, action: str, resource: str) -> Decision:
    return parse(raw).evaluate(principal, action, resource)


def decide(raw: str | None, principal: Principal, action: str, resource: str) -> Decision:
    """`parse(raw).evaluate(...)`, memoised (no extra context keys)."""
    if not raw:
        return Decision.IMPLICIT_DENY
    return _decide(raw, principal, action, resource)


def allowed(owner_account: str, raw: str | None, principal: Principal, action: str, resource: str) -> bool:
    """Whether `principal` may do `action` on `resource` of `owner_account`, whose resource policy
    is the JSON `raw` (None: no policy). Same account: True at once (identity policies are IAM's;
    the resource policy is not consulted). Otherwise only an allowing, not denied, statement."""
    if principal.account_id == owner_account:
        return True  # (a service principal acting for a resource of the same account included)
    return decide(raw, principal, action, resource) is Decision.ALLOW


def not_authorized_message(principal: Principal, action: str, resource: str) -> str:
    """AWS's message for a cross-account call no resource policy allows."""
    return (
        f"User: {principal.caller_arn} is not authorized to perform: {action} on resource: {resource} "
        f"because no resource-based policy allows the {action} action"
    )
