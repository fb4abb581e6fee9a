"""A test-only FunctionDirectory: a dict of functions with their versions and aliases."""

from __future__ import annotations

from collections.abc import Callable

from squall.services.lambda_.contracts import QualifierKind, ResolvedFunction
from squall.services.lambda_.names import LATEST, FunctionRef, function_not_found

ACCOUNT = "000000000000"
REGION = "us-east-1"


class DictDirectory:
    def __init__(self) -> None:
        #: name -> (versions, aliases -> version)
        self.functions: dict[str, tuple[set[str], dict[str, str]]] = {}
        self._listeners: list[Callable[[FunctionRef], None]] = []

    def add(
        self, name: str, versions: tuple[str, ...] = (), aliases: dict[str, str] | None = None
    ) -> FunctionRef:
        self.functions[name] = (set(versions), dict(aliases or {}))
        return FunctionRef(ACCOUNT, REGION, name)

    def delete(self, ref: FunctionRef) -> None:
        if ref.qualifier is None:
            del self.functions[ref.name]
        else:
            self.functions[ref.name][0].discard(ref.qualifier)
        for listener in self._listeners:
            listener(ref)

    def exists(self, ref: FunctionRef) -> bool:
        return ref.name in self.functions

    def resolve(self, ref: FunctionRef) -> ResolvedFunction:
        entry = self.functions.get(ref.name)
        if entry is None:
            raise function_not_found(ref)
        versions, aliases = entry
        q = ref.qualifier
        if q is None:
            return ResolvedFunction(ref, QualifierKind.LATEST, LATEST, ref.arn)
        if q == LATEST:
            return ResolvedFunction(ref, QualifierKind.LATEST, LATEST, ref.qualified_arn)
        if q in versions:
            return ResolvedFunction(ref, QualifierKind.VERSION, q, ref.qualified_arn)
        if q in aliases:
            return ResolvedFunction(ref, QualifierKind.ALIAS, aliases[q], ref.qualified_arn)
        raise function_not_found(ref)

    def on_delete(self, listener: Callable[[FunctionRef], None]) -> None:
        self._listeners.append(listener)
