"""SigV4 authentication for the gateway: verify a request's signature, decode
aws-chunked bodies, verify payload checksums, and map refusals to AWS errors."""

from squall.gateway.auth.checksums import verify_checksums
from squall.gateway.auth.chunked import DecodedBody, decode_body, decoded_request
from squall.gateway.auth.credentials import Credentials, CredentialStore, StaticCredentials
from squall.gateway.auth.errors import AuthError, AuthErrorKind
from squall.gateway.auth.mapping import auth_error_response
from squall.gateway.auth.sigv4 import AuthContext, AuthMethod, ChunkSigning, PayloadMode, verify

__all__ = [
    "AuthContext",
    "AuthError",
    "AuthErrorKind",
    "AuthMethod",
    "ChunkSigning",
    "CredentialStore",
    "Credentials",
    "DecodedBody",
    "PayloadMode",
    "StaticCredentials",
    "auth_error_response",
    "decode_body",
    "decoded_request",
    "verify",
    "verify_checksums",
]
