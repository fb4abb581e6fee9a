"""A PartiQL subset for DynamoDB, parsed by hand into the expression trees of `ast.py`.

statement := SELECT projection FROM target [WHERE cond]
           | INSERT INTO name VALUE value
           | UPDATE target (SET path = value | REMOVE path)+ [WHERE cond]
           | DELETE FROM target [WHERE cond]
projection := '*' | path (',' path)*           target := name ['.' name]
cond := or;  or := and (OR and)*;  and := not (AND not)*;  not := NOT not | primary
primary := '(' cond ')' | begins_with '(' path ',' value ')' | contains(...) | attribute_type(...)
         | path ( op value | BETWEEN value AND value | IN '[' value, ... ']' | IS [NOT] MISSING )
value := 'string' | number | TRUE | FALSE | NULL | ? | '{' 'k' : value, ... '}'
       | '[' value, ... ']' | '<<' value, ... '>>'
path := name ('.' name | '[' integer ']')*     name := identifier | "quoted identifier"

Nesting is bounded before it recurses: values at most 32 levels (DynamoDB's item limit, its
message), conditions at most `MAX_NESTING` parentheses / NOTs, paths at most 32 levels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from squall.services.dynamodb import ast
from squall.services.dynamodb.errors import validation
from squall.services.dynamodb.values import clean

MALFORMED = "Statement wasn't well formed, can't be processed: "
_TOKEN = re.compile(
    r"""\s*(?:(?P<str>'(?:[^']|'')*')|(?P<qid>"(?:[^"]|"")*")|(?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"""
    r"""|(?P<id>[A-Za-z_][A-Za-z0-9_]*)|(?P<op><<|>>|<=|>=|<>|!=|[=<>{}\[\](),.:?*;]))"""
)
OPS = {"=", "<>", "!=", "<", "<=", ">", ">="}
MAX_NESTING = 100
MAX_VALUE_NESTING = 32
MAX_PATH_DEPTH = 32
FUNCTIONS = {"begins_with", "contains", "attribute_type"}


@dataclass
class Statement:
    verb: str  # SELECT / INSERT / UPDATE / DELETE
    table: str
    index: str | None = None
    where: ast.Condition | None = None
    projection: list[ast.Path] | None = None  # None: *
    item: dict[str, Any] | None = None
    actions: list[ast.Action] = field(default_factory=list)


def tokenize(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise validation(f"{MALFORMED}Unexpected token at position {pos}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class Parser:
    def __init__(self, text: str, parameters: list[dict[str, Any]]) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.params = parameters
        self.used = 0
        self.depth = 0  # open parentheses and NOTs of the condition being parsed
        self.value_depth = 0

    def peek(self, word: str | None = None) -> bool:
        if self.pos >= len(self.tokens):
            return False
        kind, text = self.tokens[self.pos]
        if word is None:
            return True
        return text.upper() == word.upper() and kind in ("id", "op")

    def take(self, word: str | None = None) -> tuple[str, str]:
        if not self.peek(word):
            got = self.tokens[self.pos][1] if self.pos < len(self.tokens) else "end of statement"
            raise validation(f"{MALFORMED}Expected {word or 'more input'}, found {got}")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def accept(self, word: str) -> bool:
        if self.peek(word):
            self.pos += 1
            return True
        return False

    def statement(self) -> Statement:
        if not self.tokens:
            raise validation(f"{MALFORMED}Empty statement")
        verb = self.take()[1].upper()
        if verb == "SELECT":
            projection = None if self.accept("*") else self.paths()
            self.take("FROM")
            st = Statement("SELECT", *self.target(), projection=projection)
        elif verb == "INSERT":
            self.take("INTO")
            st = Statement("INSERT", self.name())
            self.take("VALUE")
            value = self.value()
            if "M" not in value:
                raise validation(f"{MALFORMED}INSERT VALUE must be a tuple")
            st.item = value["M"]
        elif verb == "UPDATE":
            st = Statement("UPDATE", *self.target())
            while self.peek("SET") or self.peek("REMOVE"):
                if self.take()[1].upper() == "SET":
                    path = self.path()
                    self.take("=")
                    st.actions.append(ast.Action("SET", path, self.literal()))
                else:
                    st.actions.append(ast.Action("REMOVE", self.path()))
            if not st.actions:
                raise validation(f"{MALFORMED}UPDATE needs SET or REMOVE")
        elif verb == "DELETE":
            self.take("FROM")
            st = Statement("DELETE", *self.target())
        else:
            raise validation(f"{MALFORMED}Unsupported statement {verb}")
        if self.accept("WHERE"):
            st.where = self.condition()
        self.accept(";")
        if self.pos != len(self.tokens):
            raise validation(f"{MALFORMED}Unexpected {self.tokens[self.pos][1]}")
        if self.used != len(self.params):
            raise validation("Number of parameters in request and statement don't match.")
        return st

    def name(self) -> str:
        kind, text = self.take()
        if kind == "qid":
            return text[1:-1].replace('""', '"')
        if kind == "id":
            return text
        raise validation(f"{MALFORMED}Expected a name, found {text}")

    def target(self) -> tuple[str, str | None]:
        table = self.name()
        return (table, self.name()) if self.accept(".") else (table, None)

    def path(self) -> ast.Path:
        parts: list[ast.PathPart] = [self.name()]
        while True:
            if len(parts) > MAX_PATH_DEPTH:
                raise validation(f"{MALFORMED}The document path has too many nesting levels")
            if self.accept("."):
                parts.append(self.name())
            elif self.accept("["):
                kind, text = self.take()
                if kind != "num" or not text.isdigit():
                    raise validation(f"{MALFORMED}List index must be an integer, found {text}")
                parts.append(int(text))
                self.take("]")
            else:
                return ast.Path(tuple(parts))

    def paths(self) -> list[ast.Path]:
        out = [self.path()]
        while self.accept(","):
            out.append(self.path())
        return out

    def literal(self) -> ast.Literal:
        return ast.Literal("", self.value())

    def value(self) -> dict[str, Any]:
        if self.value_depth > MAX_VALUE_NESTING:
            raise validation("Nesting Levels have exceeded supported limits: Maximum nesting level of 32")
        self.value_depth += 1
        try:
            return self._value()
        finally:
            self.value_depth -= 1

    def _value(self) -> dict[str, Any]:
        kind, text = self.take()
        if kind == "str":
            return {"S": text[1:-1].replace("''", "'")}
        if kind == "num":
            return clean({"N": text})
        if text == "?":
            if self.used >= len(self.params):
                raise validation("Number of parameters in request and statement don't match.")
            self.used += 1
            return clean(self.params[self.used - 1])
        if kind == "id" and text.upper() in ("TRUE", "FALSE"):
            return {"BOOL": text.upper() == "TRUE"}
        if kind == "id" and text.upper() == "NULL":
            return {"NULL": True}
        if text == "{":
            entries: dict[str, Any] = {}
            while not self.accept("}"):
                if entries:
                    self.take(",")
                key = self.value()
                if "S" not in key:
                    raise validation(f"{MALFORMED}Tuple keys must be strings")
                self.take(":")
                entries[key["S"]] = self.value()
            return {"M": entries}
        if text == "[":
            items: list[dict[str, Any]] = []
            while not self.accept("]"):
                if items:
                    self.take(",")
                items.append(self.value())
            return {"L": items}
        if text == "<<":
            members: list[dict[str, Any]] = []
            while not self.accept(">>"):
                if members:
                    self.take(",")
                members.append(self.value())
            kinds = {next(iter(m)) for m in members}
            if len(kinds) != 1 or kinds - {"S", "N", "B"}:
                raise validation(f"{MALFORMED}A set must hold strings, numbers or binaries of one type")
            kind_ = kinds.pop()
            return clean({kind_ + "S": [m[kind_] for m in members]})
        raise validation(f"{MALFORMED}Unexpected {text}")

    def condition(self) -> ast.Condition:
        terms = [self.conjunction()]
        while self.accept("OR"):
            terms.append(self.conjunction())
        return ast.joined("OR", terms)

    def conjunction(self) -> ast.Condition:
        terms = [self.negation()]
        while self.accept("AND"):
            terms.append(self.negation())
        return ast.joined("AND", terms)

    def _nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise validation(f"{MALFORMED}The condition nests more than {MAX_NESTING} levels deep")

    def negation(self) -> ast.Condition:
        if self.accept("NOT"):
            self._nest()
            inverse = ast.Not(self.negation())
            self.depth -= 1
            return inverse
        if self.accept("("):
            self._nest()
            inner = self.condition()
            self.take(")")
            self.depth -= 1
            return inner
        kind, text = self.tokens[self.pos] if self.peek() else ("", "")
        is_call = self.pos + 1 < len(self.tokens) and self.tokens[self.pos + 1][1] == "("
        if kind == "id" and text.lower() in FUNCTIONS and is_call:
            self.pos += 2
            args: list[ast.Operand] = [self.path()]
            self.take(",")
            args.append(self.literal())
            self.take(")")
            return ast.Function(text.lower(), tuple(args))
        path = self.path()
        if self.accept("BETWEEN"):
            low = self.literal()
            self.take("AND")
            return ast.Between(path, low, self.literal())
        if self.accept("IN"):
            self.take("[")
            options: list[ast.Operand] = [self.literal()]
            while self.accept(","):
                options.append(self.literal())
            self.take("]")
            return ast.In(path, tuple(options))
        if self.accept("IS"):
            negated = self.accept("NOT")
            self.take("MISSING")
            return ast.Function("attribute_exists" if negated else "attribute_not_exists", (path,))
        op = self.take()[1]
        if op not in OPS:
            raise validation(f"{MALFORMED}Unexpected {op}")
        return ast.Compare("<>" if op == "!=" else op, path, self.literal())


def parse(text: str, parameters: list[dict[str, Any]] | None = None) -> Statement:
    return Parser(text, list(parameters or [])).statement()


def key_equalities(cond: ast.Condition | None) -> dict[str, dict[str, Any]]:
    """The `name = value` comparisons on top-level attributes joined by AND at the top of `cond`."""
    out: dict[str, dict[str, Any]] = {}
    stack = [cond] if cond is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Logical) and node.op == "AND":
            stack += [node.left, node.right]
        elif (
            isinstance(node, ast.Compare)
            and node.op == "="
            and isinstance(node.left, ast.Path)
            and len(node.left.parts) == 1
            and isinstance(node.right, ast.Literal)
        ):
            out.setdefault(str(node.left.parts[0]), node.right.value)
    return out
