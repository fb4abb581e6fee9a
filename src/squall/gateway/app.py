"""The ASGI application: the HTTP plumbing around the request pipeline.

`Gateway` is a raw ASGI callable (no framework on the hot path). For an HTTP
request it builds the request head from the ASGI scope (headers lower-cased, a
repeated header's values joined with ","), gives it a request id, and then:

- answers Squall's own URLs without the pipeline: the health endpoint
  (`health.py`) and the extra routes providers hand out (`extra_routes.py`);
- answers S3 CORS preflights and adds CORS headers to S3 responses (`cors.py`);
- otherwise runs the request through `pipeline.Pipeline.handle` (route ->
  authenticate -> decode -> parse -> validate -> authorize -> dispatch ->
  serialize, errors mapped there);

and sends the response: its body, or its `ByteStream` piece by piece. Body
reading, bounded in size (`max_body_bytes`; a declared Content-Length over it
is refused before reading) and time (`body_timeout`, one shared loop timer in
`deadlines.py`), is `read_body`, which the pipeline calls. After a streamed
upload, what the provider left unread is drained (up to 1 MiB) or the
connection is closed. A client that hangs up mid-body gets nothing.

The ASGI lifespan is delegated to the `lifespan` handler the server passes
(background work belongs to the server, not the gateway).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from squall.gateway.auth import CredentialStore
from squall.gateway.cors import Cors, CrossOrigin
from squall.gateway.deadlines import Deadlines
from squall.gateway.extra_routes import RawHandler, extra_route_matches, serve_extra
from squall.gateway.health import HEALTH_PATHS, Health
from squall.gateway.pipeline import Pipeline, request_timeout
from squall.gateway.streaming import Disconnected, RequestBody, discard_body
from squall.lib.ids import new_request_id
from squall.protocol.errors import ServiceError
from squall.protocol.router import Router
from squall.protocol.types import HttpRequest, HttpResponse
from squall.services.registry import ServiceRegistry

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

#: How much of a refused streamed upload's body is read and dropped to keep the connection.
_DISCARD_LIMIT = 1 << 20


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
        self.default_region = default_region
        self._deadlines = Deadlines(body_timeout)
        #: Route -> authenticate -> ... -> serialize (pipeline.py).
        self.pipeline = Pipeline(
            router=router,
            credentials=credentials,
            services=services,
            read_body=self.read_body,
            deadlines=self._deadlines,
            body_timeout=body_timeout,
            clock_skew=clock_skew,
            endpoint=endpoint,
            default_region=default_region,
        )
        self._handle = self.pipeline.handle
        self.health = Health(services)
        #: (path prefix, handler) pairs served before AWS routing, for GET/HEAD only:
        #: URLs Squall hands out itself (e.g. Lambda's presigned code downloads).
        self.extra_routes = list(extra_routes)
        #: CORS for S3 paths: OPTIONS preflights, and headers on requests with an Origin.
        self.cors = Cors(cors, router) if cors is not None else None
        #: The ASGI lifespan handler: background work belongs to the server, not the gateway.
        self.lifespan = lifespan

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await (self.lifespan or _no_background)(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = new_request_id()
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
        # Squall's own URLs, unsigned and outside the pipeline.
        if head.path in HEALTH_PATHS and head.method in ("GET", "HEAD"):
            await _send(send, self.health.response(head.method == "HEAD"))
            return
        for prefix, handler in self.extra_routes:
            if head.method in ("GET", "HEAD") and extra_route_matches(prefix, head):
                await _send(send, await serve_extra(handler, head, request_id))
                return
        # S3 CORS: a preflight is answered here; an actual request gets headers added below.
        cors = self.cors
        target = None
        if cors is not None and ("origin" in head.headers or head.method == "OPTIONS"):
            target = cors.target(head)
            if head.method == "OPTIONS" and target is not None:
                await _send(send, cors.preflight(head, target, request_id))
                return
        streamed: list[RequestBody | None] = []
        try:
            response = await self._handle(head, receive, request_id, streamed)
        except Disconnected:
            return
        if target is not None and cors is not None:
            response = cors.with_headers(response, head, target)
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

    async def read_body(self, head: HttpRequest, receive: Receive) -> bytes:
        """The whole body of the request `head`, bounded in size and time. Raises
        ServiceError RequestEntityTooLarge / RequestTimeout / BadRequest, or
        Disconnected when the client leaves."""
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
                    raise Disconnected
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
            raise request_timeout() from None
        finally:
            deadlines.leave(key)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

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


def _header_bytes(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")
