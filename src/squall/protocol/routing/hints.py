"""Cheap signals in a request that name the service: credential scope, Host,
and the query protocol's `Action` / `Version` form fields."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import unquote

_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")
_CREDENTIAL = "Credential="
_ACTION = re.compile(rb"(?:^|&)Action=([^&]*)")
_VERSION = re.compile(rb"(?:^|&)Version=([^&]*)")


def _scope_service(scope: str) -> str | None:
    parts = scope.split("/")
    if len(parts) == 5:  # SigV4: AK/date/region/service/aws4_request
        return parts[3].strip()
    if len(parts) == 4:  # SigV4a: AK/date/service/aws4_request
        return parts[2].strip()
    return None


@lru_cache(maxsize=256)
def _query_scope_service(raw: str) -> str | None:
    """The service of a presigned URL's (still percent-encoded) `X-Amz-Credential`;
    cached: a signer's scope is the same all day."""
    return _scope_service(unquote(raw))


def credential_scope(headers: dict[str, str], query_string: str) -> str | None:
    """The service of the SigV4 credential scope (`AK/date/region/SVC/aws4_request`;
    SigV4a has no region), from the Authorization header or a presigned URL's
    `X-Amz-Credential`.
    SigV2 (`AWS AK:sig` or `AWSAccessKeyId=`/`Signature=` query) only exists for
    S3 here and yields "s3"."""
    auth = headers.get("authorization")
    if auth:
        i = auth.find(_CREDENTIAL)
        if i >= 0:
            end = auth.find(",", i)
            return _scope_service(auth[i + len(_CREDENTIAL) : end if end >= 0 else len(auth)])
        if auth.startswith("AWS ") and ":" in auth:
            return "s3"
        return None
    if query_string:
        i = query_string.find("X-Amz-Credential=")
        if i >= 0:
            end = query_string.find("&", i)
            raw = query_string[i + 17 : end if end >= 0 else len(query_string)]
            return _query_scope_service(raw) if len(raw) <= 256 else _scope_service(unquote(raw))
        if "AWSAccessKeyId=" in query_string and "Signature=" in query_string:
            return "s3"
    return None


def host_prefix(host: str, base_hosts: tuple[str, ...]) -> str | None:
    """What precedes one of `base_hosts` in the Host header (port dropped,
    lower-cased): "sqs.us-east-1" for `sqs.us-east-1.localhost:4566`, "" for a
    bare base host, None for any other host (an IP, a custom name)."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.lower().rstrip(".")
    for base in base_hosts:
        if name == base:
            return ""
        if name.endswith(base) and name[-len(base) - 1 : -len(base)] == ".":
            return name[: -len(base) - 1]
    return None


def service_prefix(prefix: str, endpoints: dict[str, str]) -> str | None:
    """`<endpoint>` or `<endpoint>.<region>` -> the service the endpoint names."""
    svc = endpoints.get(prefix)
    if svc is not None:
        return svc
    head, _, tail = prefix.rpartition(".")
    if head and _REGION.match(tail):
        return endpoints.get(head)
    return None


def s3_bucket(prefix: str) -> str | None:
    """The bucket of an S3 virtual-host prefix: `<bucket>`, `<bucket>.s3`,
    `<bucket>.s3.<region>`, `<bucket>.s3-<region>`; None for the path-style
    endpoints `s3`, `s3.<region>`, `s3-<region>` and for no prefix at all."""
    if not prefix:
        return None
    labels = prefix.split(".")
    if len(labels) >= 2 and _REGION.match(labels[-1]) and labels[-2] == "s3":
        labels = labels[:-2]
    elif labels[-1] == "s3" or (labels[-1].startswith("s3-") and _REGION.match(labels[-1][3:])):
        labels = labels[:-1]
    return ".".join(labels) or None


def form_field(data: bytes, pattern: re.Pattern[bytes]) -> str | None:
    m = pattern.search(data)
    if m is None:
        return None
    raw = m.group(1)
    if b"%" in raw or b"+" in raw:
        return unquote(raw.replace(b"+", b" ").decode("latin-1"))
    return raw.decode("latin-1")


def query_action(
    method: str, headers: dict[str, str], query_string: str, body: bytes
) -> tuple[str | None, str | None]:
    """(Action, Version) of a query-protocol request: from a form-encoded body,
    else from the query string."""
    if body and method == "POST" and "x-www-form-urlencoded" in headers.get("content-type", ""):
        action = form_field(body, _ACTION)
        if action is not None:
            return action, form_field(body, _VERSION)
    if query_string and "Action=" in query_string:
        qs = query_string.encode("latin-1", "replace")
        return form_field(qs, _ACTION), form_field(qs, _VERSION)
    return None, None
