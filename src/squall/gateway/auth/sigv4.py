"""SigV4 request verification: the Authorization header and presigned URLs."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import unquote

from squall.gateway.auth import canonical as c
from squall.gateway.auth.credentials import Credentials, CredentialStore
from squall.gateway.auth.errors import AuthError, AuthErrorKind
from squall.protocol.types import HttpRequest

MAX_PRESIGN_EXPIRES = 604800
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
#: The Authorization header exactly as the SDKs write it (anything else takes the general parser).
_CANONICAL_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^\s,=]+), ?SignedHeaders=([^\s,=]+), ?Signature=([^\s,=]+)\Z"
)


class AuthMethod(StrEnum):
    HEADER = "header"
    PRESIGNED = "presigned"
    ANONYMOUS = "anonymous"


class PayloadMode(StrEnum):
    """How the body is protected, from `x-amz-content-sha256` (or implied)."""

    SIGNED = "signed"  # body hash is part of the signature
    UNSIGNED = "UNSIGNED-PAYLOAD"
    STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

    @property
    def streaming(self) -> bool:
        return self.startswith("STREAMING-")

    @property
    def chunk_signed(self) -> bool:
        return (
            self == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
            or self == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
        )


_MODES_BY_HEADER = {m.value: m for m in PayloadMode if m is not PayloadMode.SIGNED}


@dataclass(frozen=True)
class ChunkSigning:
    """What verifying aws-chunked chunk signatures needs: the derived key, the
    request's timestamp and scope, and the seed (request) signature."""

    key: bytes
    amz_date: str
    scope: str
    seed_signature: str


@dataclass(frozen=True)
class AuthContext:
    """The verified identity of a request. For ANONYMOUS every identity field is None."""

    method: AuthMethod
    payload_mode: PayloadMode
    access_key_id: str | None = None
    account_id: str | None = None
    principal_arn: str | None = None
    region: str | None = None
    service: str | None = None
    session_token: str | None = None
    chunk_signing: ChunkSigning | None = None


class _Parsed(NamedTuple):
    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str
    token: str | None
    expires: int | None  # presigned only
    query: list[tuple[str, str]]


@lru_cache(maxsize=64)
def _parse_amz_date(value: str) -> datetime | None:
    if len(value) != 16 or value[8] != "T" or value[15] != "Z":
        return None
    try:
        return datetime(
            int(value[0:4]), int(value[4:6]), int(value[6:8]),
            int(value[9:11]), int(value[11:13]), int(value[13:15]), tzinfo=UTC,
        )  # fmt: skip
    except ValueError:
        return None


def format_amz_date(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@lru_cache(maxsize=256)
def _scope_parts(credential: str, presigned: bool) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts[:4]):
        where = "X-Amz-Credential" if presigned else "Credential"
        raise AuthError(
            AuthErrorKind.MALFORMED,
            f"{where} should be scoped to a valid region, not '{credential}'. "
            f"Credential should be of the form <access-key>/<date>/<region>/<service>/aws4_request.",
            method="presigned" if presigned else "header",
        )
    return parts[0], parts[1], parts[2], parts[3]


def _parse_header(request: HttpRequest, authorization: str, query: list[tuple[str, str]]) -> _Parsed:
    canonical = _CANONICAL_AUTHORIZATION.match(authorization)
    if canonical is not None:  # what the SDKs send: one cheap match, same result as the loop below
        credential, signed, signature = canonical.groups()
    else:
        credential, signed, signature = _header_fields(authorization)
    headers = request.headers
    amz_date = headers.get("x-amz-date")
    if amz_date is None and "date" in headers:
        try:
            amz_date = format_amz_date(parsedate_to_datetime(headers["date"]))
        except (TypeError, ValueError):
            amz_date = None
    if not amz_date:
        raise AuthError(
            AuthErrorKind.MALFORMED,
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            method="header",
        )
    key, date, region, service = _scope_parts(credential, presigned=False)
    return _Parsed(
        key, date, region, service, _signed_headers(signed), signature, amz_date,
        headers.get("x-amz-security-token"), None, query,
    )  # fmt: skip


def _header_fields(authorization: str) -> tuple[str, str, str]:
    """(Credential, SignedHeaders, Signature) of an Authorization header in any spacing or order."""
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != c.ALGORITHM:
        raise AuthError(
            AuthErrorKind.MALFORMED, f"Unsupported Authorization Type: {algorithm!r}", method="header"
        )
    fields: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            fields[key] = value.strip()
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if k not in fields]
    if missing:
        raise AuthError(
            AuthErrorKind.MALFORMED,
            " ".join(f"Authorization header requires '{k}' parameter." for k in missing),
            method="header",
        )
    return fields["Credential"], fields["SignedHeaders"], fields["Signature"]


@lru_cache(maxsize=256)
def _signed_headers(value: str) -> tuple[str, ...]:
    return tuple(value.split(";"))


_PRESIGN_REQUIRED = frozenset({"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date",
                               "X-Amz-SignedHeaders", "X-Amz-Expires"})  # fmt: skip


@lru_cache(maxsize=256)
def _unquote_cached(value: str) -> str:
    """Short escaped values recur (a signer's `X-Amz-Credential` scope)."""
    return unquote(value)


def _parse_query(query: list[tuple[str, str]]) -> _Parsed:
    params: dict[str, str] = {}
    for name, value in query:
        if name.startswith("X-Amz-"):
            if "%" in value:
                value = _unquote_cached(value) if len(value) <= 256 else unquote(value)
            params[name] = value
    if not params.keys() >= _PRESIGN_REQUIRED:
        raise AuthError(
            AuthErrorKind.MALFORMED,
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
            "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
            method="presigned",
        )
    if params["X-Amz-Algorithm"] != c.ALGORITHM:
        raise AuthError(
            AuthErrorKind.MALFORMED,
            'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"',
            method="presigned",
        )
    expires_raw = params["X-Amz-Expires"]
    if not expires_raw.isdigit():
        raise AuthError(AuthErrorKind.MALFORMED, "X-Amz-Expires should be a number", method="presigned")
    expires = int(expires_raw)
    if expires < 1 or expires > MAX_PRESIGN_EXPIRES:
        message = (
            "X-Amz-Expires must be non-negative" if expires < 1
            else "X-Amz-Expires must be less than a week (in seconds) that is 604800"
        )  # fmt: skip
        raise AuthError(AuthErrorKind.MALFORMED, message, method="presigned")
    key, date, region, service = _scope_parts(params["X-Amz-Credential"], presigned=True)
    return _Parsed(
        key, date, region, service,
        tuple(params["X-Amz-SignedHeaders"].split(";")), params["X-Amz-Signature"],
        params["X-Amz-Date"], params.get("X-Amz-Security-Token"), expires, query,
    )  # fmt: skip


def _payload_mode(value: str | None) -> PayloadMode | None:
    """The mode an x-amz-content-sha256 value names; None for a hex digest or absent."""
    if value is None or _HEX64.match(value):
        return None
    mode = _MODES_BY_HEADER.get(value)
    if mode is None:
        raise AuthError(
            AuthErrorKind.INVALID_CONTENT_SHA256,
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER "
            "or a valid sha256 value.",
        )
    return mode


def _check_body_hash(declared: str | None, body: bytes) -> None:
    if declared is not None and _HEX64.match(declared):
        actual = hashlib.sha256(body).hexdigest()
        if not hmac.compare_digest(actual, declared):
            raise AuthError(
                AuthErrorKind.BAD_PAYLOAD_HASH,
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                client=declared,
                computed=actual,
            )


def _check_time(parsed: _Parsed, when: datetime, now: datetime, max_skew: timedelta) -> None:
    """Header-signed requests must be within `max_skew` of `now`; presigned ones
    must not be expired nor dated more than `max_skew` ahead."""
    expired = parsed.expires is not None and now > when + timedelta(seconds=parsed.expires)
    early = parsed.expires is None and when < now - max_skew
    if not (expired or early or when > now + max_skew):
        return
    fields = {
        "request_time": parsed.amz_date,
        "server_time": format_amz_date(now),
        "max_skew_ms": str(int(max_skew.total_seconds() * 1000)),
    }
    minutes = int(max_skew.total_seconds() // 60)
    if expired:
        assert parsed.expires is not None
        raise AuthError(
            AuthErrorKind.EXPIRED,
            "Request has expired",
            expires=format_amz_date(when + timedelta(seconds=parsed.expires)),
            x_amz_expires=str(parsed.expires),
            **fields,
        )
    if early:
        raise AuthError(
            AuthErrorKind.SKEWED,
            f"Signature expired: {parsed.amz_date} is now earlier than "
            f"{format_amz_date(now - max_skew)} ({format_amz_date(now)} - {minutes} min.)",
            **fields,
        )
    raise AuthError(
        AuthErrorKind.SKEWED,
        f"Signature not yet current: {parsed.amz_date} is still later than "
        f"{format_amz_date(now + max_skew)} ({format_amz_date(now)} + {minutes} min.)",
        **fields,
    )


def _anonymous(request: HttpRequest, deferred_body: bool) -> AuthContext:
    declared = request.headers.get("x-amz-content-sha256")
    mode = _payload_mode(declared)
    if mode is not None and mode.chunk_signed:
        raise AuthError(AuthErrorKind.MISSING, f"{mode.value} requires a signed request")
    if not deferred_body:
        _check_body_hash(declared, request.body)
    return AuthContext(AuthMethod.ANONYMOUS, mode or PayloadMode.SIGNED)


def sigv2_signed(authorization: str | None, query_names: set[str]) -> bool:
    """Whether a request is signed with S3's legacy SigV2 (`Authorization: AWS ...` or a
    presigned query with `AWSAccessKeyId` and `Signature`)."""
    if authorization is not None and authorization.startswith("AWS "):
        return True
    return "AWSAccessKeyId" in query_names and "Signature" in query_names


def verify(
    request: HttpRequest,
    store: CredentialStore,
    *,
    now: datetime | None = None,
    max_skew: timedelta = timedelta(minutes=15),
    allow_anonymous: bool = False,
    deferred_body: bool = False,
) -> AuthContext:
    """Verify a request's SigV4 signature (Authorization header or presigned
    query) and return who signed it.

    The signing service comes from the credential scope: for S3 the path is
    signed as sent and `x-amz-content-sha256` is required on header-signed
    requests; for others it is normalised and double-encoded. With
    `allow_anonymous` (S3), an unsigned request yields an ANONYMOUS context
    instead of AuthError(MISSING). A hex `x-amz-content-sha256` is checked
    against the body; aws-chunked bodies are checked by `decode_body`.
    With `deferred_body` the body has not been read yet (a streamed upload):
    `request.body` is ignored and the caller checks a hex `x-amz-content-sha256`
    when the body has arrived (`gateway/streaming.py`); a presigned or unsigned
    request must then be S3's UNSIGNED-PAYLOAD. S3 (`allow_anonymous`) also
    accepts its legacy SigV2 (`sigv2.py`).
    Raises AuthError."""
    query = c.query_pairs(request.query_string)
    names = {name for name, _ in query} if query else set()
    authorization = request.headers.get("authorization")
    if allow_anonymous and sigv2_signed(authorization, names):
        from squall.gateway.auth import sigv2  # S3's legacy scheme; imports this module

        return sigv2.verify_v2(request, store, query, max_skew)
    presigned = "X-Amz-Algorithm" in names or "X-Amz-Credential" in names
    if authorization is not None and presigned:
        raise AuthError(
            AuthErrorKind.MALFORMED, "Only one auth mechanism allowed; only the X-Amz-Algorithm "
            "query parameter or the Authorization header should be specified", method="header",
        )  # fmt: skip
    if authorization is None and not presigned:
        if allow_anonymous:
            return _anonymous(request, deferred_body)
        raise AuthError(AuthErrorKind.MISSING, "Request is missing Authentication Token")
    parsed = _parse_query(query) if presigned else _parse_header(request, authorization or "", query)
    method = AuthMethod.PRESIGNED if presigned else AuthMethod.HEADER

    when = _parse_amz_date(parsed.amz_date)
    if when is None:
        raise AuthError(
            AuthErrorKind.MALFORMED, f"Invalid date format of X-Amz-Date: {parsed.amz_date!r}",
            method=method.value,
        )  # fmt: skip
    if parsed.date != parsed.amz_date[:8]:
        raise AuthError(
            AuthErrorKind.MALFORMED, "Invalid credential date. Date is not the same as X-Amz-Date.",
            method=method.value,
        )  # fmt: skip
    if "host" not in parsed.signed_headers:
        raise AuthError(
            AuthErrorKind.MALFORMED, "'Host' or ':authority' must be a 'SignedHeader' in the AWS "
            "Authorization.", method=method.value,
        )  # fmt: skip

    creds = store.lookup(parsed.access_key_id)
    if creds is None:
        raise AuthError(AuthErrorKind.UNKNOWN_KEY, access_key_id=parsed.access_key_id)
    now = now or datetime.now(UTC)
    check_token(creds, parsed.token, now)
    _check_time(parsed, when, now, max_skew)

    is_s3 = parsed.service in c.UNNORMALISED_PATH_SERVICES
    declared = request.headers.get("x-amz-content-sha256")
    mode = _payload_mode(declared)
    if declared is None and is_s3 and not presigned:
        raise AuthError(
            AuthErrorKind.INVALID_CONTENT_SHA256,
            "Missing required header for this request: x-amz-content-sha256",
        )
    # Presigned URLs carry no body hash: S3 signs UNSIGNED-PAYLOAD; other services
    # are presigned with UNSIGNED-PAYLOAD by current SDKs, with SHA-256(body) by older ones.
    if declared is not None:
        candidates = [(declared, mode)]
    elif presigned:
        candidates = [(PayloadMode.UNSIGNED.value, PayloadMode.UNSIGNED)]
        if not is_s3 and not deferred_body:
            candidates.append((hashlib.sha256(request.body).hexdigest(), None))
    else:
        candidates = [(hashlib.sha256(request.body).hexdigest(), None)]

    path = c.canonical_path(request.path, parsed.service)
    canonical_qs = c.canonical_query(parsed.query, "X-Amz-Signature" if presigned else None) if query else ""
    scope = f"{parsed.date}/{parsed.region}/{parsed.service}/aws4_request"
    key = c.signing_key(creds.secret_access_key, parsed.date, parsed.region, parsed.service)
    http_method = request.method.upper()
    for payload_hash, candidate_mode in candidates:
        canonical = c.canonical_request(
            http_method, path, canonical_qs, request.headers, parsed.signed_headers, payload_hash
        )
        to_sign = c.string_to_sign(parsed.amz_date, scope, canonical)
        if hmac.compare_digest(c.sign(key, to_sign), parsed.signature):
            mode = candidate_mode
            break
    else:
        canonical = c.canonical_request(
            request.method.upper(),
            path,
            canonical_qs,
            request.headers,
            parsed.signed_headers,
            candidates[0][0],
        )
        raise AuthError(
            AuthErrorKind.BAD_SIGNATURE,
            access_key_id=parsed.access_key_id,
            string_to_sign=c.string_to_sign(parsed.amz_date, scope, canonical),
            canonical_request=canonical,
            signature_provided=parsed.signature,
        )
    if not deferred_body:
        _check_body_hash(declared, request.body)

    if mode is not None and mode.chunk_signed:
        return AuthContext(
            method, mode, creds.access_key_id, creds.account_id, creds.principal_arn,
            parsed.region, parsed.service, parsed.token,
            ChunkSigning(key, parsed.amz_date, scope, parsed.signature),
        )  # fmt: skip
    return _context(method, mode or PayloadMode.SIGNED, creds, parsed.region, parsed.service, parsed.token)


@lru_cache(maxsize=1024)
def _context(
    method: AuthMethod, mode: PayloadMode, creds: Credentials, region: str, service: str, token: str | None
) -> AuthContext:
    """The (immutable) context of a request without chunk signing: the same for every
    request of one signer, so one instance is shared."""
    return AuthContext(
        method, mode, creds.access_key_id, creds.account_id, creds.principal_arn, region, service, token
    )


def check_token(creds: Credentials, token: str | None, now: datetime) -> None:
    """Keys issued with a session token (STS) must present it and be unexpired;
    long-term keys ignore a token they were not issued with."""
    if creds.session_token is not None and (
        token is None or not hmac.compare_digest(token.encode(), creds.session_token.encode())
    ):
        raise AuthError(
            AuthErrorKind.INVALID_TOKEN,
            "The security token included in the request is invalid.",
            access_key_id=creds.access_key_id,
        )
    if creds.expiration is not None and now.timestamp() >= creds.expiration:
        raise AuthError(
            AuthErrorKind.EXPIRED_TOKEN,
            "The security token included in the request is expired",
            access_key_id=creds.access_key_id,
        )
