"""Streamed request bodies: an upload handed to the provider as it arrives.

For operations whose input payload is a `streaming` blob (S3 PutObject,
UploadPart) the gateway routes and authenticates from the request line and
headers alone, then gives the provider a `RequestBody` instead of bytes. The
provider iterates it (`async for piece in body`); pieces are yielded as they
arrive, so memory stays bounded whatever the size.

What `decode_body` + `verify_checksums` check on a whole body, `RequestBody`
checks incrementally: aws-chunked framing, every chunk signature and the
trailer signature, the trailing and header `x-amz-checksum-*` values,
`Content-MD5`, a hex `x-amz-content-sha256`, and the declared lengths. A
failure raises `AuthError` from the iteration (mid-stream for a bad chunk
signature, at the end for digests), so a provider must not commit anything
until the iteration has finished without error. Afterwards `checksums` holds
the verified `{ALGORITHM: base64}` values (and "Content-MD5").
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from squall.gateway.auth import canonical as c
from squall.gateway.auth.checksums import check_checksum, check_content_md5, checksum_algorithm
from squall.gateway.auth.chunked import _chunk_header, _read_trailers, is_aws_chunked
from squall.gateway.auth.errors import AuthError, AuthErrorKind
from squall.gateway.auth.sigv4 import _HEX64, AuthContext, ChunkSigning, PayloadMode
from squall.gateway.deadlines import Deadlines
from squall.protocol.checksums import CHECKSUM_PREFIX, Hasher
from squall.protocol.types import HttpRequest

Receive = Callable[[], Awaitable[dict[str, Any]]]

_MAX_LINE = 8192
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class Disconnected(Exception):
    """The client went away before sending its whole request."""


class BodyTimeout(Exception):
    """The client sent nothing for longer than the idle timeout."""


async def discard_body(receive: Receive, limit: int, idle_timeout: float) -> bool:
    """Read and drop what is left of a body nobody read (a streamed upload refused
    before or while its body was consumed), up to `limit` bytes. False if more
    remained or the client stalled or left: the connection must then be closed."""
    seen = 0
    try:
        while True:
            async with asyncio.timeout(idle_timeout):
                message = await receive()
            if message["type"] == "http.disconnect":
                return False
            seen += len(message.get("body", b""))
            if seen > limit:
                return False
            if not message.get("more_body", False):
                return True
    except TimeoutError:
        return False


class ChunkDecoder:
    """Incremental aws-chunked decoder: `feed` raw bytes, get payload pieces;
    `finish` at end of input returns the verified trailers (lower-case names)."""

    _HEADER, _DATA, _DATA_END, _TRAILERS, _DONE = range(5)

    def __init__(self, mode: PayloadMode, signing: ChunkSigning | None) -> None:
        self._mode = mode
        self._signing = signing
        self._previous = signing.seed_signature if signing else ""
        self._state = self._HEADER
        self._line = bytearray()
        self._remaining = 0
        self._chunk_hash: Any = None
        self._chunk_sig: str | None = None
        self._trailer_lines: list[bytes] = []
        self._blank_seen = False

    def feed(self, data: bytes) -> list[memoryview]:
        out: list[memoryview] = []
        view = memoryview(data)
        pos, n = 0, len(data)
        while pos < n:
            if self._state == self._DATA:
                take = min(self._remaining, n - pos)
                piece = view[pos : pos + take]
                pos += take
                if self._chunk_hash is not None:
                    self._chunk_hash.update(piece)
                out.append(piece)
                self._remaining -= take
                if self._remaining == 0:
                    self._end_chunk(self._chunk_hash.hexdigest() if self._chunk_hash else "")
                    self._state = self._DATA_END
                continue
            if self._state == self._DONE:
                if data[pos:].strip():
                    raise AuthError(AuthErrorKind.BAD_ENCODING, "Data after the end of the aws-chunked body.")
                return out
            before = len(self._line)
            self._line += view[pos : pos + _MAX_LINE]
            eol = self._line.find(b"\r\n")
            if eol < 0:
                if len(self._line) >= _MAX_LINE:
                    raise AuthError(AuthErrorKind.BAD_ENCODING, "Chunk header is not terminated.")
                pos = n
                continue
            line = bytes(self._line[:eol])
            pos += eol + 2 - before
            self._line.clear()
            self._on_line(line)
        return out

    def _on_line(self, line: bytes) -> None:
        if self._state == self._HEADER:
            size, signature = _chunk_header(line)
            self._chunk_sig = signature
            if size == 0:
                self._end_chunk(_EMPTY_SHA256)
                self._state = self._TRAILERS
                return
            self._remaining = size
            self._chunk_hash = hashlib.sha256() if self._signing is not None else None
            self._state = self._DATA
        elif self._state == self._DATA_END:
            if line:
                raise AuthError(AuthErrorKind.BAD_ENCODING, "Chunk data is not followed by CRLF.")
            self._state = self._HEADER
        elif self._state == self._TRAILERS:
            if line:
                self._trailer_lines.append(line)
            elif self._trailer_lines or self._blank_seen:
                self._state = self._DONE
            else:
                # Some encoders put an empty line between the final chunk and its trailers.
                self._blank_seen = True

    def _end_chunk(self, digest: str) -> None:
        signing = self._signing
        if signing is None:
            return
        to_sign = c.chunk_string_to_sign(signing.amz_date, signing.scope, self._previous, digest)
        expected = c.sign(signing.key, to_sign)
        if self._chunk_sig is None or not hmac.compare_digest(expected, self._chunk_sig):
            raise AuthError(
                AuthErrorKind.BAD_CHUNK_SIGNATURE,
                "The chunk signature we calculated does not match the signature you provided.",
                string_to_sign=to_sign,
                signature_provided=self._chunk_sig or "",
            )
        self._previous = expected

    def finish(self) -> dict[str, str]:
        if self._state not in (self._TRAILERS, self._DONE):
            raise AuthError(AuthErrorKind.BAD_ENCODING, "The request body terminated unexpectedly.")
        if self._line.strip():
            self._trailer_lines.append(bytes(self._line).rstrip(b"\r\n"))
        return _read_trailers(self._trailer_lines, self._mode, self._signing, self._previous)


class RequestBody:
    """The decoded body of a streamed request; iterate it once.

    `length` is the declared decoded length (`x-amz-decoded-content-length` for
    aws-chunked, else Content-Length), None if the client declared none."""

    def __init__(
        self,
        request: HttpRequest,
        auth: AuthContext,
        receive: Receive,
        idle_timeout: float,
        deadlines: Deadlines | None = None,
    ) -> None:
        """`deadlines` (its timeout is `idle_timeout`): the gateway's shared timer for body
        reads, cheaper than an `asyncio.timeout` per receive."""
        headers = request.headers
        self._receive = receive
        self._idle_timeout = idle_timeout
        self._deadlines = deadlines
        self._headers = headers
        self.chunked = is_aws_chunked(request, auth)
        signing = auth.chunk_signing if auth.payload_mode.chunk_signed else None
        if auth.payload_mode.chunk_signed and signing is None:
            raise AuthError(AuthErrorKind.BAD_CHUNK_SIGNATURE, "chunk signatures need a signed request")
        self._decoder = ChunkDecoder(auth.payload_mode, signing) if self.chunked else None
        raw_length = headers.get("x-amz-decoded-content-length" if self.chunked else "content-length")
        self.length = int(raw_length) if raw_length is not None and raw_length.isdigit() else None
        self.checksums: dict[str, str] = {}
        self.received = 0
        self._hashers: dict[str, Hasher] = {}
        for name in headers:
            algorithm = checksum_algorithm(name)
            if algorithm is not None:
                self._hashers[algorithm] = Hasher(algorithm)
        if self.chunked:
            for name in headers.get("x-amz-trailer", "").split(","):
                algorithm = checksum_algorithm(name.strip())
                if algorithm is not None:
                    self._hashers.setdefault(algorithm, Hasher(algorithm))
        if "content-md5" in headers:
            self._hashers.setdefault("MD5", Hasher("MD5"))
        declared = headers.get("x-amz-content-sha256")
        self._sha256 = declared if declared is not None and _HEX64.match(declared) else None
        if self._sha256 is not None and not self.chunked:
            self._hashers.setdefault("SHA256", Hasher("SHA256"))
        self._consumed = False
        self._ended = False
        #: Bytes of the (still encoded) body received so far.
        self.raw_received = 0

    def __aiter__(self) -> AsyncIterator[bytes | memoryview]:
        if self._consumed:
            raise RuntimeError("a request body can be read once")
        self._consumed = True
        return self._pieces()

    @property
    def finished(self) -> bool:
        """True once the whole request body has been received."""
        return self._ended

    async def _raw(self) -> AsyncIterator[bytes]:
        deadlines = self._deadlines
        while True:
            if deadlines is None:
                try:
                    async with asyncio.timeout(self._idle_timeout):
                        message = await self._receive()
                except TimeoutError:
                    raise BodyTimeout from None
            else:
                key = deadlines.enter()
                try:
                    message = await self._receive()
                except asyncio.CancelledError:
                    if not deadlines.expired(key):
                        raise
                    raise BodyTimeout from None
                finally:
                    deadlines.leave(key)
            if message["type"] == "http.disconnect":
                raise Disconnected
            chunk = message.get("body", b"")
            self.raw_received += len(chunk)
            if not message.get("more_body", False):
                self._ended = True
            if chunk:
                yield chunk
            if self._ended:
                return

    async def _pieces(self) -> AsyncIterator[bytes | memoryview]:
        hashers = tuple(self._hashers.values())
        decoder = self._decoder
        async for raw in self._raw():
            pieces: list[memoryview] | tuple[bytes] = decoder.feed(raw) if decoder else (raw,)
            for piece in pieces:
                for h in hashers:
                    h.update(piece)
                self.received += len(piece)
                yield piece
        trailers = decoder.finish() if decoder else {}
        self._verify(trailers)

    def _verify(self, trailers: dict[str, str]) -> None:
        if self.length is not None and self.length != self.received:
            raise AuthError(
                AuthErrorKind.LENGTH_MISMATCH,
                "You did not provide the number of bytes specified by the Content-Length HTTP header.",
                declared=str(self.length),
                received=str(self.received),
            )
        for name in self._headers.get("x-amz-trailer", "").split(",") if self.chunked else ():
            name = name.strip().lower()
            if name and name not in trailers:
                raise AuthError(AuthErrorKind.BAD_ENCODING, f"The trailer {name} was declared but not sent.")
        if self._sha256 is not None and not self.chunked:
            actual = self._hashers["SHA256"].digest().hex()
            if not hmac.compare_digest(actual, self._sha256):
                raise AuthError(
                    AuthErrorKind.BAD_PAYLOAD_HASH,
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                    client=self._sha256,
                    computed=actual,
                )
        for name, value in (*self._headers.items(), *trailers.items()):
            if not name.startswith(CHECKSUM_PREFIX):
                continue
            algorithm = checksum_algorithm(name)
            if algorithm is None:
                continue
            hasher = self._hashers.get(algorithm)
            if hasher is None:  # a trailer not announced in x-amz-trailer
                raise AuthError(AuthErrorKind.BAD_ENCODING, f"The trailer {name} was not declared.")
            calculated = hasher.b64()
            check_checksum(name, value, calculated)
            self.checksums[algorithm] = calculated
        md5 = self._headers.get("content-md5")
        if md5 is not None:
            calculated = self._hashers["MD5"].b64()
            check_content_md5(md5, calculated)
            self.checksums["Content-MD5"] = calculated
