"""The ASGI application: one HTTP request -> one AWS operation -> one HTTP response.

The pipeline, in order (each step may end the request with an AWS-shaped error
in the protocol the client spoke):

1. read the body, bounded in size and time;
2. route: (service, operation, protocol, URI labels) from headers/path/body;

Streamed uploads (a PUT that routes, from its request line and headers alone,
to an operation in its provider's `streaming_input`, e.g. S3 PutObject) skip
step 1: they are authenticated from the headers and the provider gets a
`streaming.RequestBody` that decodes and verifies the body as it arrives; the
size limit is the operation's, not `max_body_bytes`. A provider may return a
`ByteStream` as a streaming payload member (GetObject): it is sent piece by
piece and closed.

3. authenticate: SigV4 header or presigned query, access key -> account;
4. decode aws-chunked bodies and check their signatures and checksums;
5. parse the wire input and validate it against the model;
6. dispatch to the service provider;
7. serialize the output (or the error).

Unexpected exceptions become `InternalFailure` (500) with the request id; the
traceback goes to the server log only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from functools import cache, lru_cache
from typing import Any
from typing import Protocol as TypingProtocol

import orjson

from squall import __version__
from squall.gateway.auth import (
    AuthError,
    CredentialStore,
    auth_error_response,
    decode_body,
    decoded_request,
    verify,
)
from squall.gateway.auth.chunked import is_aws_chunked
from squall.gateway.deadlines import Deadlines
from squall.gateway.streaming import BodyTimeout, Disconnected, RequestBody, discard_body
from squall.protocol.errors import ServiceError, internal_failure
from squall.protocol.parsers import parse_request
from squall.protocol.router import Router, RoutingError
from squall.protocol.serializers import serialize_error, serialize_response
from squall.protocol.types import ByteStream, HttpRequest, HttpResponse, Protocol, Route
from squall.protocol.validate import validate_input
from squall.services.context import Principal, RequestContext
from squall.services.registry import ServiceRegistry

log = logging.getLogger("squall.gateway")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
#: (method, path, query string) -> response; runs in a worker thread.
RawHandler = Callable[[str, str, str], HttpResponse]

#: How much of a refused streamed upload's body is read and dropped to keep the connection.
_DISCARD_LIMIT = 1 << 20
HEALTH_PATHS = frozenset({"/_squall/health", "/_localstack/health"})
ANONYMOUS_SERVICES = frozenset({"s3"})


def _unsigned_operations() -> frozenset[tuple[str, str]]:
    """Operations AWS serves without a signature (the model's `authtype: none`,
    e.g. STS AssumeRoleWithWebIdentity); S3 is anonymous-capable as a whole."""
    from squall.protocol.models import SERVED_SERVICES, service_model

    found = set()
    for service in SERVED_SERVICES:
        model = service_model(service)
        for name in model.operation_names:
            op = model.operation_model(name)
            if op.auth_type == "none" or "smithy.api#noAuth" in (getattr(op, "auth", None) or ()):
                found.add((service, name))
    return frozenset(found)


_Disconnected = Disconnected

_RANDOM_BATCH = 16 * 256
_random_pool = bytearray()


def _new_request_id() -> str:
    """A random (version 4) UUID string, like `str(uuid.uuid4())`, from random bytes
    fetched 256 ids at a time (one getrandom call per request was measurable)."""
    if not _random_pool:
        _random_pool.extend(os.urandom(_RANDOM_BATCH))
    n = int.from_bytes(_random_pool[-16:])
    del _random_pool[-16:]
    n = (n & ~(0xC000 << 48) | (0x8000 << 48)) & ~(0xF000 << 64) | (4 << 76)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


os.register_at_fork(after_in_child=_random_pool.clear)


def _request_timeout() -> ServiceError:
    return ServiceError(
        "RequestTimeout",
        "Your socket connection to the server was not read from or written to within "
        "the timeout period. Idle connections will be closed.",
        400,
    )


class CrossOrigin(TypingProtocol):
    """S3's CORS (services/s3/cors.py): a preflight's headers (ServiceError when refused),
    and the Access-Control-* headers of an actual request carrying an Origin."""

    def preflight(self, bucket: str, key: str | None, headers: dict[str, str]) -> list[tuple[str, str]]: ...

    def response_headers(
        self, bucket: str, method: str, headers: dict[str, str]
    ) -> list[tuple[str, str]]: ...


class Gateway:
    """The ASGI callable. Construct once per server; it holds no per-request state."""

    def __init__(
        self,
        *,
        router: Router,
        credentials: CredentialStore,
        services: ServiceRegistry,
        endpoint: str,
        max_body_bytes: int,
        body_timeout: float,
        clock_skew: float,
        default_region: str = "us-east-1",
        extra_routes: Sequence[tuple[str, RawHandler]] = (),
        cors: CrossOrigin | None = None,
        lifespan: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None,
    ) -> None:
        self.router = router
        self.credentials = credentials
        self.services = services
        self.endpoint = endpoint
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.clock_skew = clock_skew
        self._max_skew = timedelta(seconds=clock_skew)
        self._deadlines = Deadlines(body_timeout)
        self.default_region = default_region
        self.started_at = time.time()
        self._unsigned = _unsigned_operations()
        #: (path prefix, handler) pairs served before AWS routing, for GET/HEAD only:
        #: URLs Squall hands out itself (e.g. Lambda's presigned code downloads).
        self.extra_routes = list(extra_routes)
        #: CORS for S3 paths: OPTIONS preflights, and headers on requests with an Origin.
        self.cors = cors
        #: The ASGI lifespan handler: background work belongs to the server, not the gateway.
        self.lifespan = lifespan
        self._principals: dict[tuple[str | None, str | None, str | None], Principal] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await (self.lifespan or _no_background)(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = _new_request_id()
        raw_headers = scope["headers"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw_headers}
        if len(headers) != len(raw_headers):  # a repeated header: join its values with ","
            headers = {}
            for raw_name, raw_value in raw_headers:
                name = raw_name.decode("latin-1").lower()
                value = raw_value.decode("latin-1")
                headers[name] = f"{headers[name]},{value}" if name in headers else value
        path = scope.get("raw_path") or scope["path"].encode()
        head = HttpRequest(
            method=scope["method"],
            path=path.decode("latin-1").split("?", 1)[0],
            query_string=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
        )
        if head.path in HEALTH_PATHS and head.method in ("GET", "HEAD"):
            await _send(send, self._health(head.method == "HEAD"))
            return
        for prefix, handler in self.extra_routes:
            if head.path.startswith(prefix) and head.method in ("GET", "HEAD"):
                try:
                    raw = await asyncio.to_thread(handler, head.method, head.path, head.query_string)
                except Exception:
                    log.exception("request %s failed", request_id)
                    raw = HttpResponse(500, [("content-type", "text/plain")], b"internal error")
                await _send(send, raw)
                return
        target = None
        if self.cors is not None and ("origin" in head.headers or head.method == "OPTIONS"):
            target = self._s3_target(head)
        if head.method == "OPTIONS" and target is not None:
            await _send(send, self._preflight(head, target, request_id))
            return
        streamed: list[RequestBody | None] = []
        try:
            response = await self._handle(head, receive, request_id, streamed)
        except _Disconnected:
            return
        if target is not None and self.cors is not None:
            allowed = self.cors.response_headers(target[0], head.method, head.headers)
            if allowed:
                response = HttpResponse(
                    response.status, [*response.headers, *allowed], response.body, response.stream
                )
        if streamed and not await self._discard_unread(head, streamed[-1], receive):
            # Unread body left on the connection: it cannot carry another request.
            response = HttpResponse(
                response.status, [*response.headers, ("connection", "close")], response.body, response.stream
            )
        if head.method == "HEAD" or response.status == 304:
            if response.stream is not None:
                await response.stream.aclose()
            response = HttpResponse(response.status, response.headers, b"")
        await _send(send, response)

    async def _handle(
        self, head: HttpRequest, receive: Receive, request_id: str, streamed: list[RequestBody | None]
    ) -> HttpResponse:
        """`streamed` gets None when the request takes the streamed-body path, then its
        RequestBody once authenticated (so the caller can tell whether body is left unread)."""
        route: Route | None = None
        protocol = Protocol.JSON
        try:
            route = self._streaming_route(head)
            stream: RequestBody | None = None
            if route is None:
                body = await self._read_body(head, receive)
                request = HttpRequest(head.method, head.path, head.query_string, head.headers, body)
                route = self.router.route(request)
            else:
                request = head
                streamed.append(None)
            protocol = route.protocol
            auth = verify(
                request,
                self.credentials,
                allow_anonymous=route.service in ANONYMOUS_SERVICES
                or (route.service, route.operation) in self._unsigned,
                max_skew=self._max_skew,
                deferred_body=head is request,
            )
            if head is request:
                stream = RequestBody(request, auth, receive, self.body_timeout, self._deadlines)
                streamed.append(stream)
                if stream.chunked:
                    request = _without_chunked_encoding(request)
            elif is_aws_chunked(request, auth):
                request = decoded_request(request, decode_body(request, auth))
            params = parse_request(route, request)
            validate_input(route, params)
            if stream is not None:
                params[_streaming_member(route, "input") or "Body"] = stream
            ctx = RequestContext(
                request_id,
                self._principal(auth.account_id, auth.principal_arn, auth.access_key_id),
                auth.region or self.default_region,
                route.service,
                route.operation,
                _endpoint_for(request.host, self.endpoint),
            )
            output = await self.services.dispatch(ctx, params)
            out_stream = output.get(_streaming_member(route, "output") or "")
            if out_stream is not None and isinstance(out_stream, ByteStream):
                output = {k: v for k, v in output.items() if v is not out_stream}
                response = serialize_response(route, output, request_id)
                status = out_stream.status or response.status
                return HttpResponse(status, response.headers, b"", out_stream)
            return serialize_response(route, output, request_id)
        except _Disconnected:
            raise
        except BodyTimeout:
            return self._error(protocol, _request_timeout(), request_id, route)
        except RoutingError as err:
            return serialize_error(err.protocol, err, request_id, service=err.service)
        except AuthError as err:
            svc = route.service if route else None
            error = auth_error_response(err, protocol, svc)
            return self._error(protocol, error, request_id, route)
        except ServiceError as err:
            if route is None:
                protocol = self._guess_protocol(head)
            return self._error(protocol, err, request_id, route)
        except Exception:
            log.exception("request %s failed", request_id)
            return self._error(protocol, internal_failure(request_id), request_id, route)

    def _principal(self, account_id: str | None, arn: str | None, access_key_id: str | None) -> Principal:
        """The request's Principal (one object per signer, reused across its requests)."""
        key = (account_id, arn, access_key_id)
        found = self._principals.get(key)
        if found is None:
            if len(self._principals) > 10_000:
                self._principals.clear()
            found = self._principals[key] = Principal.signer(account_id or "", arn, access_key_id)
        return found

    def _error(
        self, protocol: Protocol, err: ServiceError, request_id: str, route: Route | None
    ) -> HttpResponse:
        return serialize_error(
            protocol,
            err,
            request_id,
            service=route.service if route else None,
            operation=route.operation if route else None,
        )

    async def _discard_unread(self, head: HttpRequest, body: RequestBody | None, receive: Receive) -> bool:
        """After a streamed request: True if the connection can carry another request
        (its body was read to the end, or the little left of it was read and dropped)."""
        if body is not None and body.finished:
            return True
        declared = head.headers.get("content-length", "")
        received = body.raw_received if body is not None else 0
        if declared.isdigit() and int(declared) - received > _DISCARD_LIMIT:
            return False
        return await discard_body(receive, _DISCARD_LIMIT, self.body_timeout)

    def _s3_target(self, head: HttpRequest) -> tuple[str, str | None] | None:
        """(bucket, key) an S3 request (OPTIONS included) addresses, else None."""
        try:
            route = self.router.route(HttpRequest("HEAD", head.path, head.query_string, head.headers))
        except (RoutingError, ServiceError):
            return None
        bucket = route.uri_params.get("Bucket")
        if route.service != "s3" or not bucket:
            return None
        return bucket, route.uri_params.get("Key")

    def _preflight(self, head: HttpRequest, target: tuple[str, str | None], request_id: str) -> HttpResponse:
        assert self.cors is not None
        try:
            headers = self.cors.preflight(target[0], target[1], head.headers)
        except ServiceError as err:
            return serialize_error(Protocol.REST_XML, err, request_id, service="s3")
        return HttpResponse(200, headers, b"")

    def _streaming_route(self, head: HttpRequest) -> Route | None:
        """The route of a PUT whose body the provider takes as a stream, else None."""
        if head.method != "PUT":
            return None
        try:
            route = self.router.route(head)
        except RoutingError:
            return None
        provider = self.services.get(route.service)
        if provider is None or route.operation not in provider.streaming_input:
            return None
        return route

    def _guess_protocol(self, head: HttpRequest) -> Protocol:
        try:
            return self.router.route(head).protocol
        except RoutingError as err:
            return err.protocol
        except Exception:
            return Protocol.JSON

    async def _read_body(self, head: HttpRequest, receive: Receive) -> bytes:
        declared = head.headers.get("content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                raise ServiceError("BadRequest", "Content-Length is not a number.", 400) from None
            if size > self.max_body_bytes:
                raise _too_large(head, self.max_body_bytes)
        chunks: list[bytes] = []
        total = 0
        deadlines = self._deadlines
        key = deadlines.enter()
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _Disconnected
                chunk = message.get("body", b"")
                if chunk:
                    total += len(chunk)
                    if total > self.max_body_bytes:
                        raise _too_large(head, self.max_body_bytes)
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    break
        except asyncio.CancelledError:
            if not deadlines.expired(key):
                raise
            raise _request_timeout() from None
        finally:
            deadlines.leave(key)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _health(self, head_only: bool) -> HttpResponse:
        body = orjson.dumps(
            {
                "version": __version__,
                "edition": "squall",
                "services": self.services.states(),
                "uptime_seconds": round(time.time() - self.started_at, 3),
            }
        )
        return HttpResponse(200, [("content-type", "application/json")], b"" if head_only else body)


async def _no_background(scope: Scope, receive: Receive, send: Send) -> None:
    """The lifespan of a gateway without background work (worker processes, tests)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _too_large(head: HttpRequest, limit: int) -> ServiceError:
    return ServiceError(
        "RequestEntityTooLarge",
        f"Request must be smaller than {limit} bytes.",
        413,
        fields={"MaxSizeAllowed": limit},
    )


async def _send(send: Send, response: HttpResponse) -> None:
    try:
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    except UnicodeEncodeError:
        headers = [(k.lower().encode("latin-1"), _header_bytes(v)) for k, v in response.headers]
    stream = response.stream
    for k, _ in headers:
        if k == b"content-length":
            break
    else:
        length = stream.length if stream is not None else len(response.body)
        headers.append((b"content-length", str(length).encode()))
    if stream is None:
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})
        return
    try:
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        async for piece in stream:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    finally:
        await stream.aclose()


def _streaming_member(route: Route, direction: str) -> str | None:
    """The name of the operation's `streaming` blob payload member (input or output), if any."""
    return _streaming_member_of(route.service, route.operation, direction)


@cache
def _streaming_member_of(service: str, operation: str, direction: str) -> str | None:
    from squall.protocol.models import service_model

    op = service_model(service).operation_model(operation)
    shape = op.input_shape if direction == "input" else op.output_shape
    if shape is None:
        return None
    payload = shape.serialization.get("payload")
    if payload is None or not shape.members[payload].serialization.get("streaming"):
        return None
    return str(payload)


def _without_chunked_encoding(request: HttpRequest) -> HttpRequest:
    """Headers as the operation sees a streamed aws-chunked body: no `aws-chunked`
    in Content-Encoding, Content-Length the decoded length."""
    headers = dict(request.headers)
    rest = [e.strip() for e in headers.get("content-encoding", "").split(",")]
    rest = [e for e in rest if e and e.lower() != "aws-chunked"]
    if rest:
        headers["content-encoding"] = ",".join(rest)
    else:
        headers.pop("content-encoding", None)
    decoded = headers.get("x-amz-decoded-content-length")
    if decoded is not None:
        headers["content-length"] = decoded
    return HttpRequest(request.method, request.path, request.query_string, headers)


def _header_bytes(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


@lru_cache(maxsize=256)
def _endpoint_for(host: str, default: str) -> str:
    """The endpoint as this client reached us (URLs we hand out must work from where
    the client is, e.g. a container that calls us by another name)."""
    if not host or any(c in host for c in "/\\ @?#"):
        return default
    return f"http://{host}"
