"""CORS applied: preflight (OPTIONS) answers and Access-Control-* headers on actual requests.

The rules are the bucket's stored `CORSRules`. The first rule whose
`AllowedOrigins` match the `Origin` (each may contain one `*`), whose
`AllowedMethods` hold the method (for a preflight: `Access-Control-Request-Method`)
and, for a preflight, whose `AllowedHeaders` match every header named in
`Access-Control-Request-Headers` (case-insensitively, one `*` each) applies.
The gateway calls `preflight` for OPTIONS on an S3 path and `response_headers`
for any other S3 request that carries an `Origin`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from squall.protocol.errors import ServiceError
from squall.services.s3.data import S3Data

NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
    "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted "
    "by the resource's CORS spec."
)
_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "HEAD"})


@lru_cache(maxsize=1024)
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    regex = ".*".join(re.escape(piece) for piece in glob.split("*"))
    return re.compile(regex + r"\Z", re.IGNORECASE if ignore_case else 0)


def _matches(globs: list[str], value: str, ignore_case: bool = False) -> bool:
    return any(_pattern(g, ignore_case).match(value) for g in globs)


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
