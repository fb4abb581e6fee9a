"""The one error type SigV4 verification and body decoding raise."""

from __future__ import annotations

from enum import StrEnum


class AuthErrorKind(StrEnum):
    """Why a request was refused; `mapping.auth_error_response` turns each kind
    into the code, message and status AWS uses for the caller's protocol."""

    MISSING = "missing"  # no Authorization header and no presigned query parameters
    MALFORMED = "malformed"  # auth header / query parameters present but unusable
    UNKNOWN_KEY = "unknown_key"  # access key id not in the credential store
    INVALID_TOKEN = "invalid_token"  # session token missing or not the key's
    EXPIRED_TOKEN = "expired_token"  # the key's session credentials have expired
    BAD_SIGNATURE = "bad_signature"
    SKEWED = "skewed"  # request time too far from the server's clock
    EXPIRED = "expired"  # presigned URL past X-Amz-Date + X-Amz-Expires
    INVALID_CONTENT_SHA256 = "invalid_content_sha256"  # x-amz-content-sha256 missing or not a valid value
    BAD_PAYLOAD_HASH = "bad_payload_hash"  # x-amz-content-sha256 differs from the body's hash
    BAD_CHUNK_SIGNATURE = "bad_chunk_signature"  # aws-chunked chunk or trailer signature wrong
    BAD_ENCODING = "bad_encoding"  # aws-chunked framing broken
    LENGTH_MISMATCH = "length_mismatch"  # decoded body length != x-amz-decoded-content-length
    INVALID_CHECKSUM = "invalid_checksum"  # checksum header/trailer value not well-formed or unsupported
    BAD_CHECKSUM = "bad_checksum"  # checksum header/trailer does not match the payload


class AuthError(Exception):
    """A refused request. `message` is a diagnostic for logs and for kinds whose
    AWS message is specific (MALFORMED, BAD_ENCODING, ...); `details` carries
    what the AWS error shape reports (e.g. StringToSign, RequestTime, the
    checksum algorithm), keyed by plain names documented at each raise site."""

    def __init__(self, kind: AuthErrorKind, message: str = "", **details: str) -> None:
        super().__init__(message or kind.value)
        self.kind = kind
        self.message = message
        self.details: dict[str, str] = details

    def __repr__(self) -> str:
        return f"AuthError({self.kind.name}, {self.message!r})"
