"""Wire-level records shared by the gateway, the router and the codecs.

These are deliberately framework-free: the gateway builds an `HttpRequest` from
ASGI, the protocol layer turns it into (service, operation, params) and turns
an output dict or a `ServiceError` back into an `HttpResponse`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, runtime_checkable
from typing import Protocol as _Protocol
from urllib.parse import parse_qsl


class Protocol(StrEnum):
    """The wire protocol families botocore's models name in `metadata.protocol(s)`."""

    REST_JSON = "rest-json"
    JSON = "json"
    QUERY = "query"
    REST_XML = "rest-xml"
    CBOR = "smithy-rpc-v2-cbor"
    EC2 = "ec2"


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request as received.

    `path` is the raw, still percent-encoded path (no query string);
    `query_string` is the raw query string without the leading `?`.
    `headers` has lower-cased names; repeated headers are joined with ",".
    """

    method: str
    path: str
    query_string: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def host(self) -> str:
        return self.headers.get("host", "")

    def query_items(self) -> list[tuple[str, str]]:
        """Decoded (name, value) pairs of the query string, in order, blanks kept."""
        return parse_qsl(self.query_string, keep_blank_values=True)


@runtime_checkable
class ByteStream(_Protocol):
    """A body produced piece by piece (an S3 object read from its file): a
    provider returns one as a streaming payload member, the gateway sends it
    with Content-Length `length` and closes it (also when the client is gone)."""

    length: int
    #: Overrides the response's status when set (206 for a range).
    status: int | None

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    #: Sent instead of `body` when set.
    stream: ByteStream | None = None


@dataclass(frozen=True)
class Route:
    """Where a request goes: the botocore service name, the operation name as
    the model spells it (e.g. "GetCallerIdentity"), the protocol the client
    spoke (a service may accept several: CloudWatch takes CBOR, JSON and query),
    and the URI labels matched from a REST path template (decoded)."""

    service: str
    operation: str
    protocol: Protocol
    uri_params: dict[str, str] = field(default_factory=dict)


class Verbatim(dict[str, Any]):
    """An output value its service vouches is already in wire form for its shape: every key a
    member under its wire name (or a map key), no None anywhere, blobs as bytes, no timestamps
    or floats below it. Serializers send it as is (JSON turns its bytes into base64) instead of
    converting it member by member: DynamoDB's stored items, which are exactly that."""

    __slots__ = ()
