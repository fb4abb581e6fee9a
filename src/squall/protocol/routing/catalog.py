"""Lookup tables compiled once from botocore's models for the router."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from squall.protocol.models import protocols, service_model
from squall.protocol.routing.rest import RestOperation, RestTable, parse_template
from squall.protocol.types import Protocol

#: Signing names that clients use for a service besides the model's own.
EXTRA_SCOPES: dict[str, str] = {"s3express": "s3", "s3-object-lambda": "s3"}

#: Wire-identical operations told apart only by the credential scope they are
#: signed for (the endpoint rules pick a different signing name).
SCOPE_PREFERENCES: dict[tuple[str, str], frozenset[str]] = {
    ("s3", "ListDirectoryBuckets"): frozenset({"s3express"}),
    ("s3", "WriteGetObjectResponse"): frozenset({"s3-object-lambda"}),
}

_REST = (Protocol.REST_JSON, Protocol.REST_XML)


@dataclass
class Catalog:
    """Everything the router looks up, keyed the way requests name things."""

    operations: dict[str, frozenset[str]] = field(default_factory=dict)
    #: the protocol a service's REST table (or default) speaks
    primary: dict[str, Protocol] = field(default_factory=dict)
    #: X-Amz-Target prefix -> service (json)
    targets: dict[str, str] = field(default_factory=dict)
    #: rpc-v2-cbor `/service/<name>/` -> service
    cbor: dict[str, str] = field(default_factory=dict)
    #: credential-scope service (signing name) -> services, preferred first
    scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Host endpoint prefix -> services
    endpoints: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: query protocol `Version` -> service
    versions: dict[str, str] = field(default_factory=dict)
    #: services that accept the query protocol, in SERVED order
    query_services: tuple[str, ...] = ()
    #: services that accept the json protocol
    json_services: frozenset[str] = frozenset()
    #: service -> REST table of its signing group
    rest: dict[str, RestTable] = field(default_factory=dict)


def build_catalog(services: Iterable[str]) -> Catalog:
    cat = Catalog()
    rest_groups: dict[str, list[RestOperation]] = {}
    query_services: list[str] = []
    json_services: set[str] = set()
    for name in services:
        model = service_model(name)
        meta = model.metadata
        protos = protocols(model)
        cat.operations[name] = frozenset(model.operation_names)
        cat.primary[name] = protos[0]
        signing = str(meta.get("signingName") or meta["endpointPrefix"])
        cat.scopes.setdefault(signing, ())
        cat.scopes[signing] += (name,)
        for endpoint in {str(meta["endpointPrefix"]), name, signing}:
            if name not in cat.endpoints.get(endpoint, ()):
                cat.endpoints[endpoint] = (*cat.endpoints.get(endpoint, ()), name)
        if Protocol.JSON in protos or Protocol.CBOR in protos:
            cat.targets[str(meta["targetPrefix"])] = name
            json_services.add(name)
        if Protocol.CBOR in protos:
            cat.cbor[str(meta["targetPrefix"])] = name
        if Protocol.QUERY in protos or meta.get("awsQueryCompatible") is not None:
            cat.versions[str(meta["apiVersion"])] = name
            query_services.append(name)
        if protos[0] in _REST:
            rest_groups.setdefault(signing, []).extend(_rest_operations(name))
    for alias, target in EXTRA_SCOPES.items():
        if target in cat.operations:
            cat.scopes[alias] = (target,)
    for ops in rest_groups.values():
        table = RestTable(ops)
        for svc in {op.service for op in ops}:
            cat.rest[svc] = table
    cat.query_services = tuple(query_services)
    cat.json_services = frozenset(json_services)
    return cat


def _rest_operations(service: str) -> list[RestOperation]:
    model = service_model(service)
    out: list[RestOperation] = []
    for op_name in model.operation_names:
        op = model.operation_model(op_name)
        segments, literals = parse_template(op.http["requestUri"])
        req_query: set[str] = set()
        req_headers: set[str] = set()
        shape = op.input_shape
        if shape is not None:
            for member_name in shape.required_members:
                member = shape.members[member_name]
                location = member.serialization.get("location")
                wire = str(member.serialization.get("name", member_name))
                if location == "querystring":
                    req_query.add(wire)
                elif location == "header":
                    req_headers.add(wire.lower())
        out.append(
            RestOperation(
                service=service,
                operation=op_name,
                method=op.http["method"],
                template=op.http["requestUri"],
                segments=segments,
                query_literals=literals,
                required_query=frozenset(req_query),
                required_headers=frozenset(req_headers),
                deprecated=bool(op.deprecated),
                preferred_scopes=SCOPE_PREFERENCES.get((service, op_name), frozenset()),
                host_prefix=bool(op.endpoint and op.endpoint.get("hostPrefix")),
            )
        )
    return out
