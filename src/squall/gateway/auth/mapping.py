"""AuthError -> the AWS error each protocol family returns for it.

Three families answer differently: S3 (its own codes, 403s, diagnostic
fields such as StringToSign), JSON-style services (`json`, `rest-json`, CBOR:
`UnrecognizedClientException` / `InvalidSignatureException`; 400 for
`json`/CBOR, 403 for `rest-json`), and query-style services (`query`, `ec2`,
and rest-xml services other than S3: `InvalidClientTokenId` /
`SignatureDoesNotMatch`, 403).
"""

from __future__ import annotations

from collections.abc import Callable

from squall.gateway.auth.canonical import UNNORMALISED_PATH_SERVICES
from squall.gateway.auth.errors import AuthError
from squall.gateway.auth.errors import AuthErrorKind as K
from squall.protocol.errors import ServiceError
from squall.protocol.types import Protocol

INVALID_TOKEN_MESSAGE = "The security token included in the request is invalid."
EXPIRED_TOKEN_MESSAGE = "The security token included in the request is expired"
SIGNATURE_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
S3_SIGNATURE_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)

_Row = tuple[str, str | None, int]  # code, message (None: the AuthError's own), status

_JSON: dict[K, _Row] = {
    K.MISSING: ("MissingAuthenticationTokenException", "Request is missing Authentication Token", 400),
    K.MALFORMED: ("IncompleteSignatureException", None, 400),
    K.UNKNOWN_KEY: ("UnrecognizedClientException", INVALID_TOKEN_MESSAGE, 400),
    K.INVALID_TOKEN: ("UnrecognizedClientException", INVALID_TOKEN_MESSAGE, 400),
    K.EXPIRED_TOKEN: ("ExpiredTokenException", EXPIRED_TOKEN_MESSAGE, 400),
    K.BAD_SIGNATURE: ("InvalidSignatureException", SIGNATURE_MESSAGE, 400),
    K.SKEWED: ("InvalidSignatureException", None, 400),
    K.EXPIRED: ("InvalidSignatureException", None, 400),
    K.INVALID_CONTENT_SHA256: ("InvalidSignatureException", None, 400),
    K.BAD_PAYLOAD_HASH: ("InvalidSignatureException", SIGNATURE_MESSAGE, 400),
    K.BAD_CHUNK_SIGNATURE: ("InvalidSignatureException", SIGNATURE_MESSAGE, 400),
    K.BAD_ENCODING: ("SerializationException", None, 400),
    K.LENGTH_MISMATCH: ("SerializationException", None, 400),
    K.INVALID_CHECKSUM: ("ValidationException", None, 400),
    K.BAD_CHECKSUM: ("ValidationException", None, 400),
}

_QUERY: dict[K, _Row] = {
    K.MISSING: ("MissingAuthenticationToken", "Request is missing Authentication Token", 403),
    K.MALFORMED: ("IncompleteSignature", None, 400),
    K.UNKNOWN_KEY: ("InvalidClientTokenId", INVALID_TOKEN_MESSAGE, 403),
    K.INVALID_TOKEN: ("InvalidClientTokenId", INVALID_TOKEN_MESSAGE, 403),
    K.EXPIRED_TOKEN: ("ExpiredToken", EXPIRED_TOKEN_MESSAGE, 403),
    K.BAD_SIGNATURE: ("SignatureDoesNotMatch", SIGNATURE_MESSAGE, 403),
    K.SKEWED: ("SignatureDoesNotMatch", None, 403),
    K.EXPIRED: ("SignatureDoesNotMatch", None, 403),
    K.INVALID_CONTENT_SHA256: ("SignatureDoesNotMatch", None, 403),
    K.BAD_PAYLOAD_HASH: ("SignatureDoesNotMatch", SIGNATURE_MESSAGE, 403),
    K.BAD_CHUNK_SIGNATURE: ("SignatureDoesNotMatch", SIGNATURE_MESSAGE, 403),
    K.BAD_ENCODING: ("MalformedInput", None, 400),
    K.LENGTH_MISMATCH: ("MalformedInput", None, 400),
    K.INVALID_CHECKSUM: ("InvalidParameterValue", None, 400),
    K.BAD_CHECKSUM: ("InvalidParameterValue", None, 400),
}

_S3: dict[K, _Row] = {
    K.MISSING: ("AccessDenied", "Access Denied", 403),
    K.MALFORMED: ("AuthorizationHeaderMalformed", None, 400),
    K.UNKNOWN_KEY: ("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", 403),
    K.INVALID_TOKEN: ("InvalidToken", "The provided token is malformed or otherwise invalid.", 400),
    K.EXPIRED_TOKEN: ("ExpiredToken", "The provided token has expired.", 400),
    K.BAD_SIGNATURE: ("SignatureDoesNotMatch", S3_SIGNATURE_MESSAGE, 403),
    K.SKEWED: ("RequestTimeTooSkewed", "The difference between the request time and the current time is too large.", 403),
    K.EXPIRED: ("AccessDenied", "Request has expired", 403),
    K.INVALID_CONTENT_SHA256: ("InvalidRequest", None, 400),
    K.BAD_PAYLOAD_HASH: ("XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.", 400),
    K.BAD_CHUNK_SIGNATURE: ("SignatureDoesNotMatch", S3_SIGNATURE_MESSAGE, 403),
    K.BAD_ENCODING: ("InvalidRequest", None, 400),
    K.LENGTH_MISMATCH: ("IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.", 400),
    K.INVALID_CHECKSUM: ("InvalidRequest", None, 400),
    K.BAD_CHECKSUM: ("BadDigest", None, 400),
}  # fmt: skip


def _hex_bytes(text: str) -> str:
    return " ".join(f"{b:02x}" for b in text.encode("utf-8", "surrogateescape"))


def _s3_fields(err: AuthError) -> tuple[str | None, str | None, dict[str, str]]:
    """Overrides of (code, message) and the extra fields S3 puts in its error body."""
    d = err.details
    k = err.kind
    if k is K.UNKNOWN_KEY:
        return None, None, {"AWSAccessKeyId": d.get("access_key_id", "")}
    if k is K.BAD_SIGNATURE:
        sts, cr = d.get("string_to_sign", ""), d.get("canonical_request", "")
        return None, None, {
            "AWSAccessKeyId": d.get("access_key_id", ""),
            "StringToSign": sts,
            "SignatureProvided": d.get("signature_provided", ""),
            "StringToSignBytes": _hex_bytes(sts),
            "CanonicalRequest": cr,
            "CanonicalRequestBytes": _hex_bytes(cr),
        }  # fmt: skip
    if k is K.SKEWED:
        return None, None, {
            "RequestTime": d.get("request_time", ""), "ServerTime": d.get("server_time", ""),
            "MaxAllowedSkewMilliseconds": d.get("max_skew_ms", "900000"),
        }  # fmt: skip
    if k is K.EXPIRED:
        return None, None, {
            "X-Amz-Expires": d.get("x_amz_expires", ""), "Expires": d.get("expires", ""),
            "ServerTime": d.get("server_time", ""),
        }  # fmt: skip
    if k is K.BAD_PAYLOAD_HASH:
        return None, None, {
            "ClientComputedContentSHA256": d.get("client", ""), "S3ComputedContentSHA256": d.get("computed", ""),
        }  # fmt: skip
    if k is K.MALFORMED and d.get("method") == "presigned":
        return "AuthorizationQueryParametersError", None, {}
    if k is K.BAD_CHECKSUM:
        if d.get("content_md5"):
            return None, "The Content-MD5 you specified did not match what we received.", {
                "ExpectedDigest": d.get("expected", ""), "CalculatedDigest": d.get("calculated", ""),
            }  # fmt: skip
        return (
            None,
            f"The {d.get('algorithm', 'checksum')} you specified did not match the calculated checksum.",
            {},
        )
    if k is K.INVALID_CHECKSUM and d.get("content_md5"):
        return "InvalidDigest", "The Content-MD5 you specified was invalid.", {}
    return None, None, {}


def _family(protocol: Protocol, service: str | None) -> Callable[[AuthError], ServiceError]:
    if service in UNNORMALISED_PATH_SERVICES or (service is None and protocol is Protocol.REST_XML):
        return _s3_error
    if protocol in (Protocol.JSON, Protocol.REST_JSON, Protocol.CBOR):
        return lambda err: _table_error(_JSON, err, 403 if protocol is Protocol.REST_JSON else None)
    return lambda err: _table_error(_QUERY, err, None)


def _table_error(table: dict[K, _Row], err: AuthError, auth_status: int | None) -> ServiceError:
    code, message, status = table[err.kind]
    if auth_status is not None and status == 400 and err.kind in _AUTH_KINDS:
        status = auth_status
        if err.kind is K.MISSING:  # rest-json front doors (Lambda, API Gateway) word it so
            message = "Missing Authentication Token"
    return ServiceError(code, message if message is not None else err.message, status)


def _s3_error(err: AuthError) -> ServiceError:
    code, message, status = _S3[err.kind]
    code_override, message_override, fields = _s3_fields(err)
    return ServiceError(
        code_override or code,
        message_override or (message if message is not None else err.message),
        status,
        fields=fields,
    )


#: Kinds that are about who signed (rest-json services answer these with 403).
_AUTH_KINDS = frozenset(
    {K.MISSING, K.UNKNOWN_KEY, K.INVALID_TOKEN, K.EXPIRED_TOKEN, K.BAD_SIGNATURE, K.SKEWED, K.EXPIRED}
)


def auth_error_response(err: AuthError, protocol: Protocol, service: str | None) -> ServiceError:
    """The AWS error for `err` as `service` (botocore name, or signing name;
    None when the request could not be routed) speaking `protocol` returns it."""
    return _family(protocol, service)(err)
