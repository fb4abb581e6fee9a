"""Request -> (service, operation, protocol, uri_params).

The router looks at the cheapest decisive signal first:

1. `X-Amz-Target: <prefix>.<Operation>` -> a json service;
2. `smithy-protocol: rpc-v2-cbor` + `/service/<name>/operation/<Op>` -> cbor;
3. the SigV4 credential scope's service (Authorization header or presigned
   `X-Amz-Credential`), mapped through the models' signing names;
4. the Host (`<svc>[.<region>].localhost`, S3 virtual hosts);
5. a query-protocol `Action` (its `Version` picks the service);
6. an unsigned request whose path is another REST service's operation (Lambda,
   API Gateway, Scheduler, X-Ray): that service, which refuses it unsigned;
7. otherwise S3, which alone serves anonymous requests.

Within a REST service (group) the operation comes from the compiled path
table (see `routing.rest`); within a query service from `Action`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from squall.protocol.errors import ServiceError
from squall.protocol.models import SERVED_SERVICES
from squall.protocol.routing.catalog import build_catalog
from squall.protocol.routing.hints import (
    credential_scope,
    host_prefix,
    query_action,
    s3_bucket,
    service_prefix,
)
from squall.protocol.routing.rest import LITERAL, RestTable, parse_query
from squall.protocol.types import HttpRequest, Protocol, Route

_HOST_CACHE_LIMIT = 4096


class RoutingError(ServiceError):
    """No operation for this request. `protocol` and `service` are the router's
    best guess of what the client speaks, so the gateway can answer in the
    wire format the client will parse."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int,
        *,
        protocol: Protocol,
        service: str | None,
        fields: dict[str, str] | None = None,
        sender_fault: bool = True,
    ) -> None:
        super().__init__(code, message, status, sender_fault=sender_fault, fields=fields)
        self.protocol = protocol
        self.service = service


class Router:
    """Routes requests for `services`; every table is built in `__init__`."""

    def __init__(
        self,
        services: Iterable[str] = SERVED_SERVICES,
        *,
        base_hosts: Sequence[str] = ("localhost", "localhost.localstack.cloud"),
    ) -> None:
        self._cat = build_catalog(services)
        # longest first, so "localhost.localstack.cloud" is not taken for "<x>.localhost"-ish
        self._base_hosts = tuple(sorted((h.lower() for h in base_hosts), key=len, reverse=True))
        self._hosts: dict[str, tuple[tuple[str, ...] | None, str | None]] = {}
        self._s3 = "s3" in self._cat.operations
        self._endpoint_first = {k: v[0] for k, v in self._cat.endpoints.items()}
        # The other REST services' tables by the literal first path segment of their operations
        # ("2015-03-31" for Lambda): an unsigned request on such a path is theirs, not S3's.
        self._rest_roots: dict[str, list[RestTable]] = {}
        for service, table in self._cat.rest.items():
            if service == "s3":
                continue
            for op in table.operations:
                if op.segments and op.segments[0][0] == LITERAL:
                    tables = self._rest_roots.setdefault(op.segments[0][1], [])
                    if table not in tables:
                        tables.append(table)

    @property
    def shadowed(self) -> dict[tuple[str, str], tuple[str, str]]:
        """(service, operation) pairs whose wire form is identical to another
        operation's, mapped to the one the router picks (absent a scope hint)."""
        out: dict[tuple[str, str], tuple[str, str]] = {}
        for table in {id(t): t for t in self._cat.rest.values()}.values():
            out.update(table.shadowed())
        return out

    def route(self, request: HttpRequest) -> Route:
        headers = request.headers
        target = headers.get("x-amz-target")
        if target is not None:
            return self._json(target)
        if headers.get("smithy-protocol") == "rpc-v2-cbor":
            return self._cbor(request.path)
        scope = credential_scope(headers, request.query_string)
        services: tuple[str, ...] | None
        if scope is not None:
            services = self._cat.scopes.get(scope)
            if services is None:
                raise self._unserved(scope, request)
        else:
            services = self._host(request.host)[0]
            if services is None:
                action, version = query_action(request.method, headers, request.query_string, request.body)
                if action is not None:
                    return self._query(action, version, None)
                if not self._s3:
                    raise self._unserved("s3", request)
                other = self._unsigned_rest(request)
                if other is not None:
                    return other
                services = ("s3",)
        service = services[0]
        table = self._cat.rest.get(service)
        if table is not None:
            return self._rest(table, service, scope or "", request)
        action, version = query_action(request.method, headers, request.query_string, request.body)
        if action is not None:
            return self._query(action, version, services)
        if service in self._cat.json_services and service not in self._cat.query_services:
            raise RoutingError(
                "UnknownOperationException",
                "Missing X-Amz-Target header: the operation cannot be determined.",
                400,
                protocol=Protocol.JSON,
                service=service,
            )
        raise RoutingError(
            "MissingAction",
            "The request is missing an action or a required parameter.",
            400,
            protocol=Protocol.QUERY,
            service=service,
        )

    # -- rpc protocols -------------------------------------------------------

    def _json(self, target: str) -> Route:
        prefix, _, operation = target.partition(".")
        service = self._cat.targets.get(prefix)
        if service is None or operation not in self._cat.operations[service]:
            raise RoutingError(
                "UnknownOperationException",
                f"Unknown operation {target!r}.",
                400,
                protocol=Protocol.JSON,
                service=service,
            )
        return Route(service, operation, Protocol.JSON)

    def _cbor(self, path: str) -> Route:
        parts = path.split("/")
        service = None
        if len(parts) == 5 and parts[1] == "service" and parts[3] == "operation":
            service = self._cat.cbor.get(parts[2])
            if service is not None and parts[4] in self._cat.operations[service]:
                return Route(service, parts[4], Protocol.CBOR)
        raise RoutingError(
            "UnknownOperationException",
            f"Unknown operation at {path!r}.",
            404,
            protocol=Protocol.CBOR,
            service=service,
        )

    def _query(self, action: str, version: str | None, services: tuple[str, ...] | None) -> Route:
        cat = self._cat
        service = cat.versions.get(version) if version else None
        if service is None or (services is not None and service not in services):
            candidates = services if services is not None else cat.query_services
            service = next((s for s in candidates if action in cat.operations[s]), None)
            if service is None:
                service = next((s for s in candidates if s in cat.query_services), None)
        if service is None or action not in cat.operations[service]:
            raise RoutingError(
                "InvalidAction",
                f"The action {action} is not valid for this web service.",
                400,
                protocol=Protocol.QUERY,
                service=service,
            )
        return Route(service, action, Protocol.QUERY)

    # -- REST ----------------------------------------------------------------

    def _rest(self, table: RestTable, service: str, scope: str, request: HttpRequest) -> Route:
        query = parse_query(request.query_string)
        method = request.method
        path = request.path
        headers = request.headers
        bucket = self._host(request.host)[1] if service == "s3" else None
        if bucket is not None:
            hit = None
            if method in table.host_prefixed:
                hit = table.match(method, path, query, headers, scope)
            if hit is None or not hit.operation.host_prefix:
                path = "/" + bucket if path == "/" else "/" + bucket + path
                hit = table.match(method, path, query, headers, scope)
        else:
            hit = table.match(method, path, query, headers, scope)
        if hit is not None:
            op = hit.operation
            return Route(op.service, op.operation, self._cat.primary[op.service], hit.uri_params)
        raise self._rest_miss(table, service, method, path)

    def _rest_miss(self, table: RestTable, service: str, method: str, path: str) -> RoutingError:
        protocol = self._cat.primary[service]
        if protocol is Protocol.REST_XML:
            if method in table.methods_for(path):
                return RoutingError(
                    "NotImplemented",
                    "A header you provided implies functionality that is not implemented.",
                    501,
                    protocol=protocol,
                    service=service,
                    sender_fault=False,
                )
            segs = [s for s in path.split("/") if s]
            kind = "SERVICE" if not segs else "BUCKET" if len(segs) == 1 else "OBJECT"
            return RoutingError(
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
                405,
                protocol=protocol,
                service=service,
                fields={"Method": method, "ResourceType": kind},
            )
        return RoutingError(
            "UnknownOperationException",
            f"Unknown operation {method} {path}.",
            404,
            protocol=protocol,
            service=service,
        )

    def _unsigned_rest(self, request: HttpRequest) -> Route | None:
        """The route of an unsigned request (no Authorization, no presigned query) whose path is
        an operation of a REST service other than S3 (Lambda's `/2015-03-31/functions`, API
        Gateway's `/restapis`, ...): that service answers it (403 MissingAuthenticationToken),
        as AWS's endpoint for it would, instead of S3 taking the path for a bucket. Signed
        requests carry their service in the credential scope (S3 SigV2 stays S3's)."""
        path = request.path
        end = path.find("/", 1)
        first = path[1:end] if end > 0 else path[1:]
        tables = self._rest_roots.get(first)
        if tables is None or "authorization" in request.headers or "Signature=" in request.query_string:
            return None
        query = parse_query(request.query_string)
        for table in tables:
            hit = table.match(request.method, path, query, request.headers, "")
            if hit is not None and hit.operation.segments[0][0] == LITERAL:
                op = hit.operation
                return Route(op.service, op.operation, self._cat.primary[op.service], hit.uri_params)
        return None

    # -- helpers -------------------------------------------------------------

    def _host(self, host: str) -> tuple[tuple[str, ...] | None, str | None]:
        """(services the Host names, S3 bucket it carries), cached per Host."""
        hit = self._hosts.get(host)
        if hit is not None:
            return hit
        prefix = host_prefix(host, self._base_hosts)
        services: tuple[str, ...] | None = None
        bucket: str | None = None
        if prefix:
            services = self._cat.endpoints.get(prefix)
            if services is None:
                svc = service_prefix(prefix, self._endpoint_first)
                services = self._cat.endpoints[svc] if svc is not None else None
            bucket = s3_bucket(prefix) if self._s3 else None
            if services is None and self._s3:
                services = ("s3",)
        if len(self._hosts) >= _HOST_CACHE_LIMIT:
            self._hosts.clear()
        self._hosts[host] = (services, bucket)
        return services, bucket

    def _unserved(self, service: str, request: HttpRequest) -> RoutingError:
        return RoutingError(
            "NotImplemented",
            f"The service {service!r} is not served here.",
            501,
            protocol=_guess_protocol(request),
            service=None,
            sender_fault=False,
        )


def _guess_protocol(request: HttpRequest) -> Protocol:
    headers = request.headers
    if "x-amz-target" in headers:
        return Protocol.JSON
    if headers.get("smithy-protocol") == "rpc-v2-cbor":
        return Protocol.CBOR
    action, _ = query_action(request.method, headers, request.query_string, request.body)
    if action is not None:
        return Protocol.QUERY
    return Protocol.REST_XML if "xml" in headers.get("content-type", "") else Protocol.REST_JSON
