"""CORS applied: preflight (OPTIONS) answers and Access-Control-* headers on actual requests.

The rules are the bucket's stored `CORSRules`. The first rule whose
`AllowedOrigins` match the `Origin` (each may contain one `*`; `check_rules`
refuses more at PutBucketCors, and `glob_match` matches without backtracking), whose
`AllowedMethods` hold the method (for a preflight: `Access-Control-Request-Method`)
and, for a preflight, whose `AllowedHeaders` match every header named in
`Access-Control-Request-Headers` (case-insensitively, one `*` each) applies.
The gateway calls `preflight` for OPTIONS on an S3 path and `response_headers`
for any other S3 request that carries an `Origin`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from squall.protocol.errors import ServiceError
from squall.services.s3.data import S3Data

NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
    "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted "
    "by the resource's CORS spec."
)
_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "HEAD"})


def glob_match(glob: str, value: str) -> bool:
    """Whether `value` matches `glob`, where `*` stands for any run of characters. Without
    backtracking: the first piece is a prefix, the last a suffix, the middle ones are found
    left to right (the leftmost occurrence of each is always a safe choice), so the cost is
    linear in the lengths whatever the number of `*` (rules stored before PutBucketCors
    refused several)."""
    if "*" not in glob:
        return glob == value
    pieces = glob.split("*")
    first, middle, last = pieces[0], pieces[1:-1], pieces[-1]
    if len(first) + len(last) > len(value) or not value.startswith(first) or not value.endswith(last):
        return False
    at, end = len(first), len(value) - len(last)
    for piece in middle:
        found = value.find(piece, at, end)
        if found < 0:
            return False
        at = found + len(piece)
    return True


def _matches(globs: list[str], value: str, ignore_case: bool = False) -> bool:
    if ignore_case:
        value = value.lower()
        return any(glob_match(g.lower(), value) for g in globs)
    return any(glob_match(g, value) for g in globs)


def check_rules(rules: list[dict[str, Any]]) -> None:
    """PutBucketCors' checks beyond the model, as S3 makes them: each AllowedOrigin and
    AllowedHeader holds at most one `*`; methods are GET, PUT, POST, DELETE or HEAD.
    Raises ServiceError (InvalidRequest)."""
    for rule in rules:
        for method in rule.get("AllowedMethods") or []:
            if method not in _METHODS:
                raise ServiceError(
                    "InvalidRequest",
                    f"Found unsupported HTTP method in CORS config. Unsupported method is {method}",
                    400,
                )
        for origin in rule.get("AllowedOrigins") or []:
            if origin.count("*") > 1:
                raise ServiceError(
                    "InvalidRequest", f'AllowedOrigin "{origin}" can not have more than one wildcard.', 400
                )
        for header in rule.get("AllowedHeaders") or []:
            if header.count("*") > 1:
                raise ServiceError(
                    "InvalidRequest", f'AllowedHeader "{header}" can not have more than one wildcard.', 400
                )


def find_rule(
    rules: list[dict[str, Any]], origin: str, method: str, headers: Sequence[str] = ()
) -> dict[str, Any] | None:
    """The first rule allowing `origin` to use `method` with `headers`, or None."""
    for rule in rules:
        if method not in (rule.get("AllowedMethods") or []):
            continue
        if not _matches(rule.get("AllowedOrigins") or [], origin):
            continue
        allowed = rule.get("AllowedHeaders") or []
        if all(_matches(allowed, h, ignore_case=True) for h in headers):
            return rule
    return None


def rule_headers(rule: dict[str, Any], origin: str) -> list[tuple[str, str]]:
    """The Access-Control-* headers a matching rule gives (not the preflight-only ones)."""
    wildcard = "*" in (rule.get("AllowedOrigins") or [])
    out = [("Access-Control-Allow-Origin", "*" if wildcard else origin)]
    out.append(("Access-Control-Allow-Methods", ", ".join(rule.get("AllowedMethods") or [])))
    if not wildcard:
        out.append(("Access-Control-Allow-Credentials", "true"))
    if rule.get("ExposeHeaders"):
        out.append(("Access-Control-Expose-Headers", ", ".join(rule["ExposeHeaders"])))
    if rule.get("MaxAgeSeconds") is not None:
        out.append(("Access-Control-Max-Age", str(rule["MaxAgeSeconds"])))
    return out


class Cors:
    def __init__(self, data: S3Data) -> None:
        self.data = data

    def _rules(self, bucket: str) -> list[dict[str, Any]] | None:
        try:
            return self.data.bucket(bucket).cors
        except ServiceError:
            return None

    def preflight(self, bucket: str, key: str | None, headers: dict[str, str]) -> list[tuple[str, str]]:
        """The headers of a 200 answer to an OPTIONS request; ServiceError when refused."""
        resource = "OBJECT" if key else "BUCKET"
        origin = headers.get("origin")
        if not origin:
            raise ServiceError("BadRequest", "Insufficient information. Origin request header needed.", 400)
        method = headers.get("access-control-request-method", "")
        if method not in _METHODS:
            raise ServiceError(
                "BadRequest", f"Invalid Access-Control-Request-Method: {method or 'null'}", 400
            )
        requested = [h.strip().lower() for h in headers.get("access-control-request-headers", "").split(",")]
        requested = [h for h in requested if h]
        rules = self._rules(bucket)
        if not rules:
            raise ServiceError(
                "AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.", 403,
                fields={"Method": "OPTIONS", "ResourceType": resource},
            )  # fmt: skip
        rule = find_rule(rules, origin, method, requested)
        if rule is None:
            raise ServiceError(
                "AccessForbidden", NOT_ALLOWED, 403, fields={"Method": "OPTIONS", "ResourceType": resource}
            )
        out = rule_headers(rule, origin)
        if requested:
            out.append(("Access-Control-Allow-Headers", ", ".join(requested)))
        out.append(("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"))
        return out

    def response_headers(self, bucket: str, method: str, headers: dict[str, str]) -> list[tuple[str, str]]:
        """Access-Control-* headers for an actual request carrying an Origin ([] when no rule allows it)."""
        origin = headers.get("origin")
        rules = self._rules(bucket) if origin else None
        if not origin or not rules:
            return []
        rule = find_rule(rules, origin, method)
        if rule is None:
            return []
        return [
            *rule_headers(rule, origin),
            ("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"),
        ]
