"""The syntax tree of DynamoDB expressions (conditions, updates, projections)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PathPart = str | int


@dataclass(frozen=True)
class Path:
    parts: tuple[PathPart, ...]

    def text(self) -> str:
        out = ""
        for p in self.parts:
            out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
        return out


@dataclass(frozen=True)
class Literal:
    """An ExpressionAttributeValues placeholder, resolved."""

    name: str
    value: dict[str, Any]


@dataclass(frozen=True)
class Size:
    path: Path


Operand = Path | Literal | Size


@dataclass(frozen=True)
class Compare:
    op: str
    left: Operand
    right: Operand


@dataclass(frozen=True)
class Between:
    operand: Operand
    low: Operand
    high: Operand


@dataclass(frozen=True)
class In:
    operand: Operand
    options: tuple[Operand, ...]


@dataclass(frozen=True)
class Function:
    """attribute_exists, attribute_not_exists, attribute_type, begins_with, contains."""

    name: str
    args: tuple[Operand, ...]


@dataclass(frozen=True)
class Logical:
    op: str  # AND / OR
    left: Condition
    right: Condition


@dataclass(frozen=True)
class Not:
    operand: Condition


Condition = Compare | Between | In | Function | Logical | Not


@dataclass(frozen=True)
class IfNotExists:
    path: Path
    default: SetValue


@dataclass(frozen=True)
class ListAppend:
    first: SetValue
    second: SetValue


@dataclass(frozen=True)
class Arith:
    op: str  # + / -
    left: SetValue
    right: SetValue


SetValue = Path | Literal | IfNotExists | ListAppend | Arith


@dataclass(frozen=True)
class Action:
    """One update action: SET path = value, REMOVE path, ADD path value, DELETE path value."""

    verb: str
    path: Path
    value: SetValue | None = None


def joined(op: str, nodes: list[Condition]) -> Condition:
    """`nodes` joined by AND / OR as a balanced tree: thousands of conditions stay log2(n) deep
    for the recursive evaluator (a left-deep chain once hit Python's recursion limit)."""
    while len(nodes) > 1:
        paired: list[Condition] = [Logical(op, a, b) for a, b in zip(nodes[::2], nodes[1::2], strict=False)]
        if len(nodes) % 2:
            paired.append(nodes[-1])
        nodes = paired
    return nodes[0]
