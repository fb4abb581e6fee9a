"""The request pipeline: one HTTP request -> one AWS operation -> one HTTP response.

`Pipeline.handle` reads top to bottom as the steps of a request; each may end
it with an AWS-shaped error in the protocol the client spoke:

1. route: (service, operation, protocol, URI labels) from headers, path and
   body (`protocol/router.py`). The body is read first (`app.py`, bounded in
   size and time), except for a streamed upload: a PUT that routes from its
   request line and headers alone to an operation in its provider's
   `streaming_input` (S3 PutObject, UploadPart), whose body the provider gets
   as a `streaming.RequestBody` that decodes and verifies it as it arrives
   (the size limit is then the operation's, not `max_body_bytes`);
2. authenticate: SigV4 header or presigned query, access key -> account
   (`auth/`); only S3 and the model's unsigned operations accept anonymous calls;
3. decode aws-chunked bodies and check their signatures and checksums;
4. parse the wire input (`protocol/parsers/`);
5. validate it against the model (`protocol/validate.py`);
6. build the `RequestContext` (who, where, which request);
7. authorize: the operation's table entry and the registry's `Authorizer`
   (services/authorize.py; the same step in-process calls take);
8. dispatch to the provider's handler;
9. serialize the output; a `ByteStream` payload member (GetObject) becomes the
   response's stream, sent piece by piece by `app.py`.

Errors are mapped in one place, the `except` clauses at the end of `handle`:
routing, authentication and service errors become the family's error; an
unexpected exception becomes `InternalFailure` (500) with the request id, and
its traceback goes to the server log only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import cache, lru_cache

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
from squall.gateway.streaming import BodyTimeout, Disconnected, Receive, RequestBody
from squall.protocol.errors import ServiceError, internal_failure
from squall.protocol.parsers import parse_request
from squall.protocol.router import Router, RoutingError
from squall.protocol.serializers import serialize_error, serialize_response
from squall.protocol.types import ByteStream, HttpRequest, HttpResponse, Protocol, Route
from squall.protocol.validate import validate_input
from squall.services.base import StorageFull, unavailable
from squall.services.context import Principal, RequestContext
from squall.services.registry import ServiceRegistry

log = logging.getLogger("squall.gateway")

#: Reads a whole request body, bounded in size and time (`Gateway.read_body`).
BodyReader = Callable[[HttpRequest, Receive], Awaitable[bytes]]

ANONYMOUS_SERVICES = frozenset({"s3"})


class Pipeline:
    """The steps of a request, configured once per gateway; no per-request state."""

    def __init__(
        self,
        *,
        router: Router,
        credentials: CredentialStore,
        services: ServiceRegistry,
        read_body: BodyReader,
        deadlines: Deadlines,
        body_timeout: float,
        clock_skew: float,
        endpoint: str,
        default_region: str,
    ) -> None:
        self.router = router
        self.credentials = credentials
        self.services = services
        self._principals: dict[tuple[str | None, str | None, str | None], Principal] = {}
        self._read_body = read_body
        self._deadlines = deadlines
        self.body_timeout = body_timeout
        self._max_skew = timedelta(seconds=clock_skew)
        self.endpoint = endpoint
        self.default_region = default_region
        self._unsigned = _unsigned_operations()

    async def handle(
        self, head: HttpRequest, receive: Receive, request_id: str, streamed: list[RequestBody | None]
    ) -> HttpResponse:
        """The response to the request `head` (its body still to be received).

        `streamed` gets None when the request takes the streamed-body path, then its
        RequestBody once authenticated (so the caller can tell whether body is left
        unread). Raises only `Disconnected` (the client left: nothing to answer)."""
        route: Route | None = None
        protocol = Protocol.JSON
        try:
            # 1. Route (after reading the body, unless the provider takes it as a stream).
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

            # 2. Authenticate.
            auth = verify(
                request,
                self.credentials,
                allow_anonymous=route.service in ANONYMOUS_SERVICES
                or (route.service, route.operation) in self._unsigned,
                max_skew=self._max_skew,
                deferred_body=head is request,
            )

            # 3. Decode aws-chunked (a streamed body decodes and verifies as it is read).
            if head is request:
                stream = RequestBody(request, auth, receive, self.body_timeout, self._deadlines)
                streamed.append(stream)
                if stream.chunked:
                    request = _without_chunked_encoding(request)
            elif is_aws_chunked(request, auth):
                request = decoded_request(request, decode_body(request, auth))

            # 4. Parse; 5. validate.
            params = parse_request(route, request)
            validate_input(route, params)
            if stream is not None:
                params[_streaming_member(route, "input") or "Body"] = stream

            # 6. The request context: who (the signer's Principal), where, which request.
            signer = (auth.account_id, auth.principal_arn, auth.access_key_id)
            ctx = RequestContext(
                request_id,
                self._principals.get(signer) or self._principal(signer),
                auth.region or self.default_region,
                route.service,
                route.operation,
                _endpoint_for(request.host, self.endpoint),
            )

            # 7. Authorize: the operation's table entry and the registry's Authorizer, as for
            #    in-process calls (services/registry.py); NotImplemented if it is not served.
            op = self.services.authorize(ctx, params)

            # 8. Dispatch.
            output = await self.services.run(op, ctx, params)

            # 9. Serialize.
            out_stream = output.get(_streaming_member(route, "output") or "")
            if out_stream is not None and isinstance(out_stream, ByteStream):
                output = {k: v for k, v in output.items() if v is not out_stream}
                response = serialize_response(route, output, request_id)
                status = out_stream.status or response.status
                return HttpResponse(status, response.headers, b"", out_stream)
            return serialize_response(route, output, request_id)

        # Errors, in the protocol the client spoke.
        except Disconnected:
            raise
        except BodyTimeout:
            return self._error(protocol, request_timeout(), request_id, route)
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
        except StorageFull:
            log.warning("request %s refused: the data directory's disk is full", request_id)
            return self._error(protocol, unavailable(route.service if route else None), request_id, route)
        except Exception:
            log.exception("request %s failed", request_id)
            return self._error(protocol, internal_failure(request_id), request_id, route)

    def _principal(self, signer: tuple[str | None, str | None, str | None]) -> Principal:
        """The Principal of a signer (account, ARN, access key) not seen yet; kept, so that its
        later requests reuse the object."""
        if len(self._principals) > 10_000:
            self._principals.clear()
        account_id, arn, access_key_id = signer
        found = self._principals[signer] = Principal.signer(account_id or "", arn, access_key_id)
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
        """The protocol of a request refused before it was routed (e.g. its body too large)."""
        try:
            return self.router.route(head).protocol
        except RoutingError as err:
            return err.protocol
        except Exception:
            return Protocol.JSON


def request_timeout() -> ServiceError:
    """The error for a client that stopped sending its body (`body_timeout`)."""
    return ServiceError(
        "RequestTimeout",
        "Your socket connection to the server was not read from or written to within "
        "the timeout period. Idle connections will be closed.",
        400,
    )


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


@lru_cache(maxsize=256)
def _endpoint_for(host: str, default: str) -> str:
    """The endpoint as this client reached us (URLs we hand out must work from where
    the client is, e.g. a container that calls us by another name)."""
    if not host or any(c in host for c in "/\\ @?#"):
        return default
    return f"http://{host}"
