"""S3's legacy signature version 2: `Authorization: AWS key:signature` and the
presigned query `AWSAccessKeyId`/`Signature`/`Expires`, which boto3's
`generate_presigned_url` still produces for S3 unless told `s3v4`.

StringToSign = Verb \\n Content-MD5 \\n Content-Type \\n Date-or-Expires \\n
CanonicalizedAmzHeaders CanonicalizedResource, signed with HMAC-SHA1 (base64).
The resource is the path as sent (with "/bucket" in front for virtual-hosted
requests) plus the sub-resources S3 lists, sorted, with decoded values. The
payload is never signed (UNSIGNED-PAYLOAD)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import unquote

from squall.gateway.auth.credentials import CredentialStore
from squall.gateway.auth.errors import AuthError, AuthErrorKind
from squall.gateway.auth.sigv4 import AuthContext, AuthMethod, PayloadMode, check_token, format_amz_date
from squall.protocol.types import HttpRequest

SUBRESOURCES = frozenset(
    {"accelerate", "acl", "cors", "defaultObjectAcl", "location", "logging", "partNumber", "policy",
     "requestPayment", "torrent", "versioning", "versionId", "versions", "website", "uploads", "uploadId",
     "response-content-type", "response-content-language", "response-expires", "response-cache-control",
     "response-content-disposition", "response-content-encoding", "delete", "lifecycle", "tagging",
     "restore", "storageClass", "notification", "replication", "analytics", "metrics", "inventory",
     "select", "select-type", "object-lock"}
)  # fmt: skip


def _resource(path: str, query: list[tuple[str, str]], bucket_prefix: str) -> str:
    subs = sorted((k, v) for k, v in query if k in SUBRESOURCES)
    parts = [k if v == "" else f"{k}={unquote(v)}" for k, v in subs]
    return bucket_prefix + path + ("?" + "&".join(parts) if parts else "")


def _amz_headers(request: HttpRequest) -> str:
    found = sorted((k, v.strip()) for k, v in request.headers.items() if k.startswith("x-amz-"))
    return "".join(f"{k}:{v}\n" for k, v in found)


def verify_v2(
    request: HttpRequest,
    store: CredentialStore,
    query: list[tuple[str, str]],
    max_skew: timedelta = timedelta(minutes=15),
) -> AuthContext:
    """Verify a SigV2-signed S3 request (header or presigned query); raises AuthError.
    A header-signed request's time (`x-amz-date`, else `Date`) must be within `max_skew`
    of the server's clock, as for SigV4 (a captured request cannot be replayed later)."""
    params = {k: unquote(v) for k, v in query}
    presigned = "Signature" in params and not request.headers.get("authorization")
    if presigned:
        access_key, signature, when = params["AWSAccessKeyId"], params["Signature"], params.get("Expires", "")
        if not when.isdigit():
            raise AuthError(AuthErrorKind.MALFORMED, "Query-string authentication requires the Signature, "
                            "Expires and AWSAccessKeyId parameters", method="presigned")  # fmt: skip
        if time.time() > int(when):
            raise AuthError(
                AuthErrorKind.EXPIRED, "Request has expired",
                expires=formatdate(int(when), usegmt=True), server_time=formatdate(usegmt=True),
            )  # fmt: skip
    else:
        access_key, _, signature = request.headers["authorization"][4:].strip().rpartition(":")
        when = "" if "x-amz-date" in request.headers else request.headers.get("date", "")
        _check_time(request.headers.get("x-amz-date") or when, max_skew)
    creds = store.lookup(access_key)
    if creds is None:
        raise AuthError(AuthErrorKind.UNKNOWN_KEY, access_key_id=access_key)
    token = request.headers.get("x-amz-security-token") or params.get("x-amz-security-token")
    check_token(creds, token, datetime.now(UTC))
    head = "\n".join([
        request.method.upper(), request.headers.get("content-md5", ""),
        request.headers.get("content-type", ""), when,
    ]) + "\n" + _amz_headers(request)  # fmt: skip
    key = creds.secret_access_key.encode()
    candidates = [""]
    host = request.host.split(":", 1)[0]
    if "." in host and not host.replace(".", "").isdigit():
        candidates.append("/" + host.split(".", 1)[0])
    string_to_sign = ""
    for prefix in candidates:
        string_to_sign = head + _resource(request.path, query, prefix)
        expected = base64.b64encode(hmac.new(key, string_to_sign.encode(), hashlib.sha1).digest()).decode()
        if hmac.compare_digest(expected, signature):
            return AuthContext(
                method=AuthMethod.PRESIGNED if presigned else AuthMethod.HEADER,
                payload_mode=PayloadMode.UNSIGNED,
                access_key_id=creds.access_key_id,
                account_id=creds.account_id,
                principal_arn=creds.principal_arn,
                service="s3",
                session_token=token,
            )
    raise AuthError(
        AuthErrorKind.BAD_SIGNATURE,
        access_key_id=access_key,
        string_to_sign=string_to_sign,
        canonical_request="",
        signature_provided=signature,
        server_time=format_amz_date(datetime.now(UTC)),
    )


def _check_time(sent: str, max_skew: timedelta) -> None:
    """AuthError unless `sent` (an RFC 1123 date) is within `max_skew` of now."""
    try:
        when = parsedate_to_datetime(sent)
    except (TypeError, ValueError, IndexError):
        raise AuthError(
            AuthErrorKind.MISSING, "AWS authentication requires a valid Date or x-amz-date header"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = datetime.now(UTC)
    if abs(now - when) > max_skew:
        raise AuthError(
            AuthErrorKind.SKEWED,
            "The difference between the request time and the current time is too large.",
            request_time=sent,
            server_time=format_amz_date(now),
            max_skew_ms=str(int(max_skew.total_seconds() * 1000)),
        )
