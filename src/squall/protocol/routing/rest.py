"""REST (rest-json / rest-xml) operation matching.

Every operation's `http.method` + `http.requestUri` is compiled into a
per-method segment trie. A request path is walked through the trie collecting
every template it fits; the candidates are then filtered by the template's
literal query parts (`?uploads`, `?list-type=2`) and ranked by specificity:

1. path shape, segment by segment: literal > label > greedy label;
2. number of literal query parts the template requires;
3. fewer *required* query/header input members missing from the request;
4. more required query/header members present (PutObject < CopyObject <
   UploadPart < UploadPartCopy: same path, told apart by `uploadId`,
   `partNumber` and `x-amz-copy-source`);
5. signing-scope preference: an operation tied to a signing service wins a
   tie when the request is signed for it and loses otherwise (S3
   `ListDirectoryBuckets` is `ListBuckets` signed for `s3express`);
6. non-deprecated before deprecated (`GetBucketLifecycle` shares its wire
   form with `GetBucketLifecycleConfiguration`);
7. operation name, so the choice is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

_LITERAL, _LABEL, _GREEDY = 2, 1, 0
#: The kind of a literal path segment in `RestOperation.segments`.
LITERAL = _LITERAL


@dataclass(frozen=True)
class RestOperation:
    """One compiled REST operation."""

    service: str
    operation: str
    method: str
    template: str
    #: per path segment: (kind, literal text or label name)
    segments: tuple[tuple[int, str], ...]
    #: literal query parts: name -> required value (None: the key must only be present)
    query_literals: tuple[tuple[str, str | None], ...]
    #: wire names of required members carried in the query string
    required_query: frozenset[str]
    #: lower-cased names of required members carried in headers
    required_headers: frozenset[str]
    deprecated: bool = False
    #: signing names (credential scope services) this operation is preferred for
    preferred_scopes: frozenset[str] = frozenset()
    host_prefix: bool = False
    shape_rank: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape_rank", tuple(kind for kind, _ in self.segments))

    def signature(self) -> tuple[Any, ...]:
        """What a request can observe of this operation on the wire."""
        return (
            self.method,
            self.shape_rank,
            tuple(text for kind, text in self.segments if kind == _LITERAL),
            self.query_literals,
            self.required_query,
            self.required_headers,
        )


@dataclass
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    label: _Node | None = None
    greedy: list[RestOperation] = field(default_factory=list)
    terminal: list[RestOperation] = field(default_factory=list)


@dataclass(frozen=True)
class RestMatch:
    operation: RestOperation
    uri_params: dict[str, str]


def parse_template(uri: str) -> tuple[tuple[tuple[int, str], ...], tuple[tuple[str, str | None], ...]]:
    """Split a botocore `requestUri` into path segments and literal query parts."""
    path, _, query = uri.partition("?")
    segments: list[tuple[int, str]] = []
    for seg in path.strip("/").split("/") if path.strip("/") else []:
        if seg.startswith("{") and seg.endswith("}"):
            name = seg[1:-1]
            if name.endswith("+"):
                segments.append((_GREEDY, name[:-1]))
            else:
                segments.append((_LABEL, name))
        else:
            segments.append((_LITERAL, seg))
    literals: list[tuple[str, str | None]] = []
    for part in query.split("&") if query else []:
        key, eq, value = part.partition("=")
        literals.append((key, value if eq else None))
    return tuple(segments), tuple(literals)


class RestTable:
    """All REST operations of one or more services (one per signing group)."""

    def __init__(self, operations: Iterable[RestOperation]) -> None:
        self.operations: tuple[RestOperation, ...] = tuple(operations)
        self._roots: dict[str, _Node] = {}
        for op in self.operations:
            self._insert(op)
        #: methods of operations whose Host carries a label (S3 WriteGetObjectResponse)
        self.host_prefixed = frozenset(op.method for op in self.operations if op.host_prefix)

    def _insert(self, op: RestOperation) -> None:
        node = self._roots.setdefault(op.method, _Node())
        for kind, text in op.segments:
            if kind == _LITERAL:
                node = node.literals.setdefault(text, _Node())
            elif kind == _LABEL:
                if node.label is None:
                    node.label = _Node()
                node = node.label
            else:
                node.greedy.append(op)
                return
        node.terminal.append(op)

    def methods_for(self, path: str) -> set[str]:
        """Methods that have some template matching `path` (for 405 answers)."""
        segs = _split(path)
        return {m for m, root in self._roots.items() if _walk(root, segs, 0)}

    def match(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        scope: str = "",
    ) -> RestMatch | None:
        """The best operation for this request, or None when no template fits."""
        root = self._roots.get(method)
        if root is None:
            return None
        segs = _split(path)
        candidates = _walk(root, segs, 0)
        if len(candidates) == 1 and not candidates[0].query_literals:
            op = candidates[0]
            return RestMatch(op, _labels(op, segs))
        best: RestOperation | None = None
        best_key: tuple[Any, ...] = ()
        for op in candidates:
            if not _query_ok(op, query):
                continue
            missing = 0
            present = 0
            for name in op.required_query:
                if name in query:
                    present += 1
                else:
                    missing += 1
            for name in op.required_headers:
                if name in headers:
                    present += 1
                else:
                    missing += 1
            key = (
                op.shape_rank,
                len(op.query_literals),
                -missing,
                present,
                _scope_rank(op, scope),
                not op.deprecated,
                op.operation,
            )
            if best is None or key > best_key:
                best, best_key = op, key
        if best is None:
            return None
        return RestMatch(best, _labels(best, segs))

    def shadowed(self) -> dict[tuple[str, str], tuple[str, str]]:
        """Operations no request can reach (same wire signature as a preferred
        one), mapped to the operation that wins instead, absent a scope hint."""
        groups: dict[tuple[Any, ...], list[RestOperation]] = {}
        for op in self.operations:
            groups.setdefault(op.signature(), []).append(op)
        out: dict[tuple[str, str], tuple[str, str]] = {}
        for ops in groups.values():
            if len(ops) < 2:
                continue
            winner = max(ops, key=lambda o: (_scope_rank(o, ""), not o.deprecated, o.operation))
            for op in ops:
                if op is not winner:
                    out[(op.service, op.operation)] = (winner.service, winner.operation)
        return out


def _scope_rank(op: RestOperation, scope: str) -> int:
    if not op.preferred_scopes:
        return 0
    return 1 if scope in op.preferred_scopes else -1


def _split(path: str) -> list[str]:
    if path in ("", "/"):
        return []
    return path[1:].split("/") if path[0] == "/" else path.split("/")


def _walk(node: _Node, segs: list[str], i: int) -> list[RestOperation]:
    found: list[RestOperation] = []
    n = len(segs)
    if i == n or (i == n - 1 and segs[i] == ""):
        found.extend(node.terminal)
    if i < n:
        if node.greedy and (n - i > 1 or segs[i]):
            found.extend(node.greedy)
        child = node.literals.get(segs[i])
        if child is not None:
            found.extend(_walk(child, segs, i + 1))
        if node.label is not None and segs[i]:
            found.extend(_walk(node.label, segs, i + 1))
    return found


def _query_ok(op: RestOperation, query: dict[str, str]) -> bool:
    for key, value in op.query_literals:
        got = query.get(key)
        if got is None or (value is not None and got != value):
            return False
    return True


def _labels(op: RestOperation, segs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for i, (kind, name) in enumerate(op.segments):
        if kind == _LABEL:
            params[name] = unquote(segs[i]) if "%" in segs[i] else segs[i]
        elif kind == _GREEDY:
            raw = "/".join(segs[i:])
            params[name] = unquote(raw) if "%" in raw else raw
    return params


def parse_query(query_string: str) -> dict[str, str]:
    """Query keys -> first value, decoded; blanks kept (`?uploads` -> {"uploads": ""})."""
    if not query_string:
        return {}
    out: dict[str, str] = {}
    for part in query_string.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        if "%" in key or "+" in key:
            key = _decode(key)
        if "%" in value or "+" in value:
            value = _decode(value)
        out.setdefault(key, value)
    return out


def _decode(component: str) -> str:
    if len(component) <= 256:
        return _decode_cached(component)
    return unquote(component.replace("+", " "))


@lru_cache(maxsize=1024)
def _decode_cached(component: str) -> str:
    """Short escaped components recur (a presigned URL's `X-Amz-Credential` scope)."""
    return unquote(component.replace("+", " "))
