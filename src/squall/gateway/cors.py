"""S3 CORS around the pipeline: preflights answered, Access-Control-* headers added.

An OPTIONS request, or any request carrying an `Origin`, whose path routes (as
a HEAD would) to an S3 bucket is a CORS request. OPTIONS is a preflight: it is
answered here, without authentication, by the provider's rules (200 with the
Access-Control-* headers, or the S3 XML error they raise). Any other method
goes through the pipeline as usual and gets the provider's
`response_headers` appended. The gateway only finds the bucket; the rules are
S3's (`services/s3/cors.py`, passed as `Gateway(cors=...)`).
"""

from __future__ import annotations

from typing import Protocol as TypingProtocol

from squall.protocol.errors import ServiceError
from squall.protocol.router import Router, RoutingError
from squall.protocol.serializers import serialize_error
from squall.protocol.types import HttpRequest, HttpResponse, Protocol

#: (bucket, key or None) a CORS request addresses.
Target = tuple[str, str | None]


class CrossOrigin(TypingProtocol):
    """S3's CORS (services/s3/cors.py): a preflight's headers (ServiceError when refused),
    and the Access-Control-* headers of an actual request carrying an Origin."""

    def preflight(self, bucket: str, key: str | None, headers: dict[str, str]) -> list[tuple[str, str]]: ...

    def response_headers(
        self, bucket: str, method: str, headers: dict[str, str]
    ) -> list[tuple[str, str]]: ...


class Cors:
    """The gateway's side of CORS: which requests are CORS requests, and the wrapping."""

    def __init__(self, rules: CrossOrigin, router: Router) -> None:
        self.rules = rules
        self.router = router

    def target(self, head: HttpRequest) -> Target | None:
        """(bucket, key) an S3 request (OPTIONS included) addresses, else None."""
        try:
            route = self.router.route(HttpRequest("HEAD", head.path, head.query_string, head.headers))
        except (RoutingError, ServiceError):
            return None
        bucket = route.uri_params.get("Bucket")
        if route.service != "s3" or not bucket:
            return None
        return bucket, route.uri_params.get("Key")

    def preflight(self, head: HttpRequest, target: Target, request_id: str) -> HttpResponse:
        """The answer to an OPTIONS request for `target`."""
        try:
            headers = self.rules.preflight(target[0], target[1], head.headers)
        except ServiceError as err:
            return serialize_error(Protocol.REST_XML, err, request_id, service="s3")
        return HttpResponse(200, headers, b"")

    def with_headers(self, response: HttpResponse, head: HttpRequest, target: Target) -> HttpResponse:
        """`response` to an actual request for `target`, with the Access-Control-* headers allowed."""
        allowed = self.rules.response_headers(target[0], head.method, head.headers)
        if not allowed:
            return response
        return HttpResponse(response.status, [*response.headers, *allowed], response.body, response.stream)
