"""Function records in the store, and the `FunctionDirectory` the other parts use.

Keys (namespace "lambda"), all starting with (account, region):
  (a, r, "fn", name)              the function: $LATEST config, code, tags, reserved concurrency
  (a, r, "ver", name, n)          published version n (immutable)
  (a, r, "alias", name, alias)    an alias
Namespace "lambda.pending" holds (a, r, name, version) markers for the lifecycle worker.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from squall.protocol.errors import ServiceError
from squall.services.lambda_.code import CodeRef
from squall.services.lambda_.contracts import QualifierKind, ResolvedFunction
from squall.services.lambda_.names import LATEST, FunctionRef, function_not_found
from squall.storage import ReadTxn, Store, WriteTxn, pack

NS = "lambda"
PENDING_NS = "lambda.pending"
#: provisioned concurrency configs: (a, r, name, qualifier)
PC_NS = "lambda.pc"


def now_text() -> str:
    """Lambda's LastModified format: 2024-01-31T12:00:00.000+0000."""
    t = dt.datetime.now(dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000"


def new_revision() -> str:
    return str(uuid.uuid4())


def fn_key(a: str, r: str, name: str) -> bytes:
    return pack(a, r, "fn", name)


def ver_key(a: str, r: str, name: str, version: int) -> bytes:
    return pack(a, r, "ver", name, version)


def alias_key(a: str, r: str, name: str, alias: str) -> bytes:
    return pack(a, r, "alias", name, alias)


@dataclass
class FunctionRecord:
    """$LATEST and what belongs to the function as a whole."""

    config: dict[str, Any]
    code: CodeRef
    tags: dict[str, str] = field(default_factory=dict)
    reserved: int | None = None
    last_version: int = 0
    #: (CodeSha256, config fingerprint) of the newest published version, to not publish twice.
    published: list[str] | None = None

    def dump(self) -> bytes:
        return orjson.dumps(
            {
                "config": self.config,
                "code": self.code.to_json(),
                "tags": self.tags,
                "reserved": self.reserved,
                "last_version": self.last_version,
                "published": self.published,
            }
        )

    @classmethod
    def load(cls, raw: bytes) -> FunctionRecord:
        d = orjson.loads(raw)
        return cls(
            d["config"],
            CodeRef.from_json(d["code"]),
            d["tags"],
            d["reserved"],
            d["last_version"],
            d["published"],
        )


@dataclass
class VersionRecord:
    config: dict[str, Any]
    code: CodeRef

    def dump(self) -> bytes:
        return orjson.dumps({"config": self.config, "code": self.code.to_json()})

    @classmethod
    def load(cls, raw: bytes) -> VersionRecord:
        d = orjson.loads(raw)
        return cls(d["config"], CodeRef.from_json(d["code"]))


def is_version_number(qualifier: str) -> bool:
    return qualifier.isdigit()


def read_function(r: ReadTxn, ref: FunctionRef) -> FunctionRecord:
    raw = r.get(NS, fn_key(ref.account_id, ref.region, ref.name))
    if raw is None:
        raise function_not_found(FunctionRef(ref.account_id, ref.region, ref.name, ref.qualifier))
    return FunctionRecord.load(raw)


def read_version(r: ReadTxn, ref: FunctionRef, version: int) -> VersionRecord | None:
    raw = r.get(NS, ver_key(ref.account_id, ref.region, ref.name, version))
    return VersionRecord.load(raw) if raw is not None else None


def read_alias(r: ReadTxn, ref: FunctionRef, alias: str) -> dict[str, Any] | None:
    raw = r.get(NS, alias_key(ref.account_id, ref.region, ref.name, alias))
    return orjson.loads(raw) if raw is not None else None


def versions(r: ReadTxn, ref: FunctionRef) -> Iterator[VersionRecord]:
    for _, raw in r.scan(NS, prefix=pack(ref.account_id, ref.region, "ver", ref.name)):
        yield VersionRecord.load(raw)


def aliases(r: ReadTxn, ref: FunctionRef) -> Iterator[dict[str, Any]]:
    for _, raw in r.scan(NS, prefix=pack(ref.account_id, ref.region, "alias", ref.name)):
        yield orjson.loads(raw)


def mark_pending(w: WriteTxn, ref: FunctionRef, version: str) -> None:
    w.put(PENDING_NS, pack(ref.account_id, ref.region, ref.name, version), b"1")


def config_of(r: ReadTxn, ref: FunctionRef) -> tuple[dict[str, Any], CodeRef]:
    """The configuration and code the (qualified) reference denotes; raises AWS's not-found."""
    fn = read_function(r, ref)
    q = ref.qualifier
    if q is None or q == LATEST:
        return fn.config, fn.code
    if is_version_number(q):
        ver = read_version(r, ref, int(q))
        if ver is None:
            raise function_not_found(ref)
        return ver.config, ver.code
    alias = read_alias(r, ref, q)
    if alias is None:
        raise function_not_found(ref)
    version = alias["FunctionVersion"]
    if version == LATEST:
        return fn.config, fn.code
    ver = read_version(r, ref, int(version))
    if ver is None:
        raise function_not_found(ref)
    return ver.config, ver.code


class Directory:
    """`FunctionDirectory` over the store (see contracts.py)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._listeners: list[Callable[[FunctionRef], None]] = []

    def exists(self, ref: FunctionRef) -> bool:
        with self.store.read() as r:
            return r.get(NS, fn_key(ref.account_id, ref.region, ref.name)) is not None

    def resolve(self, ref: FunctionRef) -> ResolvedFunction:
        with self.store.read() as r:
            read_function(r, ref)
            q = ref.qualifier
            if q is None or q == LATEST:
                arn = ref.qualified_arn if q else ref.arn
                return ResolvedFunction(ref, QualifierKind.LATEST, LATEST, arn)
            if is_version_number(q):
                if read_version(r, ref, int(q)) is None:
                    raise function_not_found(ref)
                return ResolvedFunction(ref, QualifierKind.VERSION, q, ref.qualified_arn)
            alias = read_alias(r, ref, q)
            if alias is None:
                raise function_not_found(ref)
            return ResolvedFunction(ref, QualifierKind.ALIAS, alias["FunctionVersion"], ref.qualified_arn)

    def on_delete(self, listener: Callable[[FunctionRef], None]) -> None:
        self._listeners.append(listener)

    def deleted(self, ref: FunctionRef) -> None:
        for listener in self._listeners:
            listener(ref)


def unqualified(ref: FunctionRef) -> FunctionRef:
    return FunctionRef(ref.account_id, ref.region, ref.name)


def conflict(message: str) -> ServiceError:
    return ServiceError("ResourceConflictException", message, 409, fields={"Type": "User"})


def precondition_failed() -> ServiceError:
    return ServiceError(
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to "
        "retrieve the latest Revision Id",
        412,
        fields={"Type": "User"},
    )
