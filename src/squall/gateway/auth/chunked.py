"""aws-chunked request bodies (S3 streaming uploads).

Wire format: each chunk is `<hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n`;
the last has size 0 and is followed by trailer lines `name:value\\r\\n`
(signed variants end them with `x-amz-trailer-signature:<sig>\\r\\n`) and an
empty line. Chunk signatures chain from the request's seed signature:
sig_n = HMAC(key, "AWS4-HMAC-SHA256-PAYLOAD\\n" date scope sig_{n-1} sha256("") sha256(chunk_n)).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from squall.gateway.auth import canonical as c
from squall.gateway.auth.checksums import verify_checksum
from squall.gateway.auth.errors import AuthError, AuthErrorKind
from squall.gateway.auth.sigv4 import AuthContext, ChunkSigning, PayloadMode
from squall.protocol.types import HttpRequest

_TRAILER_SIGNATURE = "x-amz-trailer-signature"
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True)
class DecodedBody:
    """The request body as the operation sees it. `trailers` are the verified
    trailing headers (lower-case names, without x-amz-trailer-signature);
    `content_encoding` is Content-Encoding with `aws-chunked` removed (None if
    nothing remains)."""

    payload: bytes
    trailers: dict[str, str] = field(default_factory=dict)
    content_encoding: str | None = None


def decoded_request(request: HttpRequest, decoded: DecodedBody) -> HttpRequest:
    """The request as the operation sees it: the decoded payload, verified
    trailers joined to the headers (so `x-amz-checksum-*` trailers bind to
    their members), `aws-chunked` gone from Content-Encoding, and
    Content-Length the decoded length. Unchanged if the body was not chunked."""
    if decoded.payload is request.body and not decoded.trailers:
        return request
    headers = dict(request.headers)
    headers.update(decoded.trailers)
    if decoded.content_encoding:
        headers["content-encoding"] = decoded.content_encoding
    else:
        headers.pop("content-encoding", None)
    headers["content-length"] = str(len(decoded.payload))
    return HttpRequest(request.method, request.path, request.query_string, headers, decoded.payload)


def _remaining_encoding(header: str | None) -> str | None:
    if header is None:
        return None
    rest = [e.strip() for e in header.split(",") if e.strip() and e.strip().lower() != "aws-chunked"]
    return ",".join(rest) or None


def is_aws_chunked(request: HttpRequest, ctx: AuthContext) -> bool:
    """Whether the body is aws-chunked framing: only the payload mode says so (the
    signed `x-amz-content-sha256` is STREAMING-*). `Content-Encoding: aws-chunked` is
    not signed, so it decides nothing: a replayed request with that header added and
    another body still has its body checked against the signed hash (issue 13)."""
    return ctx.payload_mode.streaming


def decode_body(request: HttpRequest, ctx: AuthContext) -> DecodedBody:
    """Decode (and for signed modes verify) an aws-chunked body; other bodies
    pass through unchanged.

    Checks: every chunk signature (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]),
    the trailer signature (…-TRAILER), that each trailer named in
    `x-amz-trailer` arrived, the trailing `x-amz-checksum-*` values against the
    decoded payload, and `x-amz-decoded-content-length`. Checksum *headers* are
    left to `verify_checksums`. Raises AuthError BAD_ENCODING,
    BAD_CHUNK_SIGNATURE, LENGTH_MISMATCH, INVALID_CHECKSUM or BAD_CHECKSUM."""
    encoding = _remaining_encoding(request.headers.get("content-encoding"))
    if not is_aws_chunked(request, ctx):
        return DecodedBody(request.body, {}, request.headers.get("content-encoding"))
    signing = ctx.chunk_signing if ctx.payload_mode.chunk_signed else None
    if ctx.payload_mode.chunk_signed and signing is None:
        raise AuthError(AuthErrorKind.BAD_CHUNK_SIGNATURE, "chunk signatures need a signed request")
    payload, trailer_lines, last_signature = _read_chunks(request.body, signing)
    trailers = _read_trailers(trailer_lines, ctx.payload_mode, signing, last_signature)

    declared = request.headers.get("x-amz-decoded-content-length")
    if declared is not None and (not declared.isdigit() or int(declared) != len(payload)):
        raise AuthError(
            AuthErrorKind.LENGTH_MISMATCH,
            "You did not provide the number of bytes specified by the Content-Length HTTP header.",
            declared=declared,
            received=str(len(payload)),
        )
    for name in request.headers.get("x-amz-trailer", "").split(","):
        name = name.strip().lower()
        if name and name not in trailers:
            raise AuthError(AuthErrorKind.BAD_ENCODING, f"The trailer {name} was declared but not sent.")
    for name, value in trailers.items():
        verify_checksum(name, value, payload)
    return DecodedBody(payload, trailers, encoding)


def _read_chunks(body: bytes, signing: ChunkSigning | None) -> tuple[bytes, list[bytes], str]:
    """Payload, the raw trailer lines after the final chunk, and the last chunk signature."""
    parts: list[bytes] = []
    view = memoryview(body)
    pos, end = 0, len(body)
    previous = signing.seed_signature if signing else ""
    while True:
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            raise AuthError(AuthErrorKind.BAD_ENCODING, "Chunk header is not terminated.")
        size, signature = _chunk_header(body[pos:eol])
        start = eol + 2
        if start + size > end:
            raise AuthError(AuthErrorKind.BAD_ENCODING, "The request body terminated unexpectedly.")
        data = view[start : start + size]
        if signing is not None:
            digest = hashlib.sha256(data).hexdigest()
            to_sign = c.chunk_string_to_sign(signing.amz_date, signing.scope, previous, digest)
            expected = c.sign(signing.key, to_sign)
            if signature is None or not hmac.compare_digest(expected, signature):
                raise AuthError(
                    AuthErrorKind.BAD_CHUNK_SIGNATURE,
                    "The chunk signature we calculated does not match the signature you provided.",
                    string_to_sign=to_sign,
                    signature_provided=signature or "",
                )
            previous = expected
        if size == 0:
            return b"".join(parts), _lines(body, start), previous
        parts.append(bytes(data))
        pos = start + size
        if body[pos : pos + 2] != b"\r\n":
            raise AuthError(AuthErrorKind.BAD_ENCODING, "Chunk data is not followed by CRLF.")
        pos += 2


def _chunk_header(line: bytes) -> tuple[int, str | None]:
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise AuthError(AuthErrorKind.BAD_ENCODING, "Chunk header is not ASCII.") from None
    size_hex, *extensions = text.split(";")
    size_hex = size_hex.strip()
    if not size_hex or len(size_hex) > 16 or not set(size_hex) <= _HEX_DIGITS:
        raise AuthError(AuthErrorKind.BAD_ENCODING, f"Invalid chunk size {size_hex!r}.")
    signature = None
    for ext in extensions:
        key, _, value = ext.partition("=")
        if key.strip() == "chunk-signature":
            signature = value.strip()
    return int(size_hex, 16), signature


def _lines(body: bytes, pos: int) -> list[bytes]:
    """The trailer section's lines, up to the terminating empty line (or end of body)."""
    rest = body[pos:]
    # Some encoders put an empty line between the final chunk and its trailers.
    if rest.startswith(b"\r\n") and rest[2:].strip():
        rest = rest[2:]
    lines = rest.split(b"\r\n")
    out: list[bytes] = []
    for i, line in enumerate(lines):
        if not line:
            if any(x.strip() for x in lines[i + 1 :]):
                raise AuthError(AuthErrorKind.BAD_ENCODING, "Data after the end of the aws-chunked body.")
            return out
        out.append(line)
    return out


def _read_trailers(
    lines: list[bytes], mode: PayloadMode, signing: ChunkSigning | None, previous: str
) -> dict[str, str]:
    trailers: dict[str, str] = {}
    signature: str | None = None
    canonical: list[str] = []
    for raw in lines:
        name, sep, value = raw.decode("latin-1").partition(":")
        if not sep:
            raise AuthError(AuthErrorKind.BAD_ENCODING, f"Malformed trailer line {raw[:64]!r}.")
        name, value = name.strip().lower(), value.strip()
        if name == _TRAILER_SIGNATURE:
            signature = value
            continue
        trailers[name] = value
        canonical.append(f"{name}:{value}\n")
    if trailers and mode is PayloadMode.STREAMING_SIGNED:
        raise AuthError(
            AuthErrorKind.BAD_ENCODING, "Trailers are not allowed with STREAMING-AWS4-HMAC-SHA256-PAYLOAD."
        )
    if mode is PayloadMode.STREAMING_SIGNED_TRAILER and signing is not None:
        digest = hashlib.sha256("".join(canonical).encode("latin-1")).hexdigest()
        to_sign = c.trailer_string_to_sign(signing.amz_date, signing.scope, previous, digest)
        expected = c.sign(signing.key, to_sign)
        if signature is None or not hmac.compare_digest(expected, signature):
            raise AuthError(
                AuthErrorKind.BAD_CHUNK_SIGNATURE,
                "The trailer signature we calculated does not match the signature you provided.",
                string_to_sign=to_sign,
                signature_provided=signature or "",
            )
    return trailers
