"""A recursive-descent parser for DynamoDB expressions.

Grammar (keywords case-insensitive):

    condition   := disjunct (OR disjunct)*
    disjunct    := conjunct (AND conjunct)*
    conjunct    := NOT conjunct | '(' condition ')' | function | operand tail
    tail        := comparator operand | BETWEEN operand AND operand | IN '(' operand (',' operand)* ')'
    function    := attribute_exists(path) | attribute_not_exists(path) | attribute_type(path, operand)
                 | begins_with(path, operand) | contains(path, operand)
    operand     := path | :value | size(path)
    update      := (SET set (',' set)* | REMOVE path (',' path)* | ADD path :value (',' ...)*
                   | DELETE path :value (',' ...)*)+        each section at most once
    set         := path '=' setvalue
    setvalue    := term (('+' | '-') term)?
    term        := path | :value | if_not_exists(path, setvalue) | list_append(setvalue, setvalue)
    projection  := path (',' path)*
    path        := name ('.' name | '[' int ']')*      name := identifier | #placeholder

Placeholders are resolved while parsing; the parser records which were used so the request
can report unused ones as AWS does.

Limits, checked before any recursion so that no input reaches Python's recursion limit: an
expression is at most 4 KB (AWS's message), has at most 300 operators and functions (AWS's
message; counted on the tokens first), nests at most `MAX_NESTING` parentheses / NOTs /
functions (Squall's own bound: AWS documents none, the operator limit bounds it there), and a
document path has at most 32 levels (AWS's message). Parentheses are matched once, and path
overlaps found with a trie, so the work is linear in the expression's length.
"""

from __future__ import annotations

from typing import Any

from squall.protocol.errors import ServiceError
from squall.services.dynamodb import ast
from squall.services.dynamodb.errors import validation
from squall.services.dynamodb.lexer import Token, syntax_error, tokenize
from squall.services.dynamodb.reserved import RESERVED_WORDS

COMPARATORS = ("=", "<>", "<", "<=", ">", ">=")
UPDATE_FUNCTIONS = ("if_not_exists", "list_append")
MAX_EXPRESSION_BYTES = 4096
MAX_OPERATORS = 300
MAX_NESTING = 100
MAX_PATH_DEPTH = 32
CONDITION_FUNCTIONS = {
    "attribute_exists": 1,
    "attribute_not_exists": 1,
    "attribute_type": 2,
    "begins_with": 2,
    "contains": 2,
}


class Placeholders:
    """ExpressionAttributeNames/Values of one request and which of them were used."""

    def __init__(self, names: dict[str, str] | None, values: dict[str, Any] | None) -> None:
        self.names = names or {}
        self.values = values or {}
        self.used_names: set[str] = set()
        self.used_values: set[str] = set()

    def check_unused(self) -> None:
        for kind, given, used in (
            ("Names", self.names, self.used_names),
            ("Values", self.values, self.used_values),
        ):
            unused = [k for k in given if k not in used]
            if unused:
                raise validation(
                    f"Value provided in ExpressionAttribute{kind} unused in expressions: keys: {{{', '.join(unused)}}}"
                )


class Parser:
    def __init__(self, source: str, what: str, ph: Placeholders) -> None:
        self.source = source
        self.what = what
        self.ph = ph
        size = len(source.encode("utf-8", "surrogatepass"))
        if size > MAX_EXPRESSION_BYTES:
            raise validation(
                f"Invalid {what}: Expression size has exceeded the maximum allowed size; expression size: {size}"
            )
        self.tokens = tokenize(source, what)
        self.i = 0
        self.depth = 0
        self.closing = _count_operators_and_match(self.tokens, what)

    def nest(self) -> None:
        """One level deeper (a parenthesis, a NOT, a function call); `unnest()` when leaving it."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.invalid(f"The expression has too many nested levels; maximum nesting: {MAX_NESTING}")

    def unnest(self) -> None:
        self.depth -= 1

    # -- token helpers --------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self) -> ServiceError:
        return syntax_error(self.what, self.source, self.tokens, self.i)

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def accept(self, text: str) -> bool:
        if self.tok.type in ("op", "kw") and self.tok.text == text:
            self.i += 1
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.accept(text):
            raise self.error()

    def end(self) -> None:
        if self.tok.type != "eof":
            raise self.error()

    def invalid(self, message: str) -> ServiceError:
        return validation(f"Invalid {self.what}: {message}")

    # -- paths and operands ---------------------------------------------------------------

    def name(self) -> str:
        tok = self.tok
        if tok.type == "#name":
            self.i += 1
            if tok.text not in self.ph.names:
                raise self.invalid(
                    "An expression attribute name used in the document path is not defined; "
                    f"attribute name: {tok.text}"
                )
            self.ph.used_names.add(tok.text)
            return self.ph.names[tok.text]
        if tok.type == "name":
            if tok.text.upper() in RESERVED_WORDS:
                raise self.invalid(f"Attribute name is a reserved keyword; reserved keyword: {tok.text}")
            self.i += 1
            return tok.text
        raise self.error()

    def path(self) -> ast.Path:
        parts: list[ast.PathPart] = [self.name()]
        while True:
            if len(parts) > MAX_PATH_DEPTH:
                raise self.invalid(
                    f"The document path has too many nesting levels; nesting levels: {len(parts)}"
                )
            if self.accept("."):
                parts.append(self.name())
            elif self.accept("["):
                if self.tok.type != "int":
                    raise self.error()
                parts.append(int(self.take().text))
                self.expect("]")
            else:
                return ast.Path(tuple(parts))

    def literal(self) -> ast.Literal:
        tok = self.take()
        if tok.text not in self.ph.values:
            raise self.invalid(
                f"An expression attribute value used in expression is not defined; attribute value: {tok.text}"
            )
        self.ph.used_values.add(tok.text)
        return ast.Literal(tok.text, self.ph.values[tok.text])

    def is_call(self) -> bool:
        if self.tok.type != "name":
            return False
        nxt = self.tokens[self.i + 1]
        return nxt.type == "op" and nxt.text == "("

    def operand(self) -> ast.Operand:
        if self.tok.type == ":value":
            return self.literal()
        if self.is_call():
            fname = self.tok.text
            if fname != "size":
                if fname in CONDITION_FUNCTIONS:
                    raise self.invalid(
                        f"The function is not allowed to be used this way in an expression; function: {fname}"
                    )
                if fname in UPDATE_FUNCTIONS:
                    raise self.invalid(
                        f"The function is not allowed in a condition expression; function: {fname}"
                    )
                raise self.invalid(f"Invalid function name; function: {fname}")
            self.i += 2
            path = self.path()
            self.expect(")")
            return ast.Size(path)
        return self.path()

    # -- conditions -----------------------------------------------------------------------

    def condition(self) -> ast.Condition:
        node = self.disjunct()
        while self.accept("OR"):
            node = ast.Logical("OR", node, self.disjunct())
        return node

    def disjunct(self) -> ast.Condition:
        node = self.conjunct()
        while self.accept("AND"):
            node = ast.Logical("AND", node, self.conjunct())
        return node

    def conjunct(self) -> ast.Condition:
        if self.accept("NOT"):
            self.nest()
            negated = ast.Not(self.conjunct())
            self.unnest()
            return negated
        if self.accept("("):
            inner_end = self.closing.get(self.i)  # "(" right after this one: where it closes
            if inner_end is not None and self._is_op(inner_end + 1, ")"):
                raise self.invalid("The expression has redundant parentheses;")  # "((x))"
            self.nest()
            node = self.condition()
            self.expect(")")
            self.unnest()
            return node
        if self.is_call() and self.tok.text in CONDITION_FUNCTIONS:
            return self.function()
        if self.is_call() and self.tok.text in UPDATE_FUNCTIONS:
            raise self.invalid(
                f"The function is not allowed in a condition expression; function: {self.tok.text}"
            )
        left = self.operand()
        if isinstance(left, ast.Size) and not (
            (self.tok.type == "op" and self.tok.text in COMPARATORS) or self.tok.text in ("BETWEEN", "IN")
        ):
            raise self.invalid(
                "The function is not allowed to be used this way in an expression; function: size"
            )
        if self.tok.type == "op" and self.tok.text in COMPARATORS:
            op = self.take().text
            return ast.Compare(op, left, self.operand())
        if self.accept("BETWEEN"):
            low = self.operand()
            self.expect("AND")
            return ast.Between(left, low, self.operand())
        if self.accept("IN"):
            self.expect("(")
            options = [self.operand()]
            while self.accept(","):
                options.append(self.operand())
            self.expect(")")
            if len(options) > 100:
                raise self.invalid(
                    f"The IN operator is provided with too many operands; number of operands: {len(options)}"
                )
            return ast.In(left, tuple(options))
        raise self.error()

    def _is_op(self, index: int, text: str) -> bool:
        tok = self.tokens[index] if index < len(self.tokens) else None
        return tok is not None and tok.type == "op" and tok.text == text

    def function(self) -> ast.Function:
        fname = self.take().text
        self.expect("(")
        args: list[ast.Operand] = [self.path()]
        while self.accept(","):
            args.append(self.operand())
        self.expect(")")
        if len(args) != CONDITION_FUNCTIONS[fname]:
            raise self.invalid(
                f"Incorrect number of operands for operator or function; operator or function: {fname}, "
                f"number of operands: {len(args)}"
            )
        return ast.Function(fname, tuple(args))

    # -- updates --------------------------------------------------------------------------

    def update(self) -> list[ast.Action]:
        actions: list[ast.Action] = []
        seen: set[str] = set()
        if self.tok.type == "eof":
            raise self.error()
        while self.tok.type != "eof":
            if self.tok.type != "kw" or self.tok.text not in ("SET", "REMOVE", "ADD", "DELETE"):
                raise self.error()
            verb = self.take().text
            if verb in seen:
                raise self.invalid(f'The "{verb}" section can only be used once in an update expression;')
            seen.add(verb)
            while True:
                actions.append(self.action(verb))
                if not self.accept(","):
                    break
        return actions

    def action(self, verb: str) -> ast.Action:
        path = self.path()
        if verb == "SET":
            self.expect("=")
            return ast.Action(verb, path, self.set_value())
        if verb == "REMOVE":
            return ast.Action(verb, path)
        if self.tok.type != ":value":
            raise self.error()
        return ast.Action(verb, path, self.literal())

    def set_value(self) -> ast.SetValue:
        left = self.term()
        if self.tok.type == "op" and self.tok.text in "+-":
            op = self.take().text
            return ast.Arith(op, left, self.term())
        return left

    def term(self) -> ast.SetValue:
        if self.tok.type == ":value":
            return self.literal()
        if self.is_call():
            fname = self.tok.text
            self.i += 2
            self.nest()
            if fname == "if_not_exists":
                if self.tok.type not in ("name", "#name") or self.is_call():
                    raise self.invalid(
                        "Operator or function requires a document path; operator or function: if_not_exists"
                    )
                path = self.path()
                self.expect(",")
                node: ast.SetValue = ast.IfNotExists(path, self.set_value())
            elif fname == "list_append":
                first = self.set_value()
                self.expect(",")
                node = ast.ListAppend(first, self.set_value())
            elif fname in CONDITION_FUNCTIONS or fname == "size":
                raise self.invalid(f"The function is not allowed in an update expression; function: {fname}")
            else:
                raise self.invalid(f"Invalid function name; function: {fname}")
            self.expect(")")
            self.unnest()
            return node
        return self.path()

    def projection(self) -> list[ast.Path]:
        paths = [self.path()]
        while self.accept(","):
            paths.append(self.path())
        return paths


def parse_condition(source: str, what: str, ph: Placeholders) -> ast.Condition:
    if not source.strip():
        raise validation(f"Invalid {what}: The expression can not be empty;")
    p = Parser(source, what, ph)
    node = p.condition()
    p.end()
    return node


def parse_update(source: str, ph: Placeholders) -> list[ast.Action]:
    if not source.strip():
        raise validation("Invalid UpdateExpression: The expression can not be empty;")
    p = Parser(source, "UpdateExpression", ph)
    actions = p.update()
    p.end()
    _check_overlaps([a.path for a in actions], "UpdateExpression")
    return actions


def parse_projection(source: str, ph: Placeholders) -> list[ast.Path]:
    if not source.strip():
        raise validation("Invalid ProjectionExpression: The expression can not be empty;")
    p = Parser(source, "ProjectionExpression", ph)
    paths = p.projection()
    p.end()
    _check_overlaps(paths, "ProjectionExpression")
    return paths


def _check_overlaps(paths: list[ast.Path], what: str) -> None:
    """AWS's error for two paths where one is a prefix of (or equal to) the other; a trie of the
    paths seen so far finds the first such pair in time linear in the total path length."""
    root: dict[ast.PathPart, Any] = {}
    ends: dict[int, ast.Path] = {}  # id(trie node) -> the path that ends there
    for path in paths:
        node = root
        for part in path.parts:
            if id(node) in ends:
                _overlap(ends[id(node)], path, what)
            node = node.setdefault(part, {})
        if id(node) in ends:
            _overlap(ends[id(node)], path, what)
        if node:  # an earlier, longer path runs through this one's end
            _overlap(next(p for p in paths if p.parts[: len(path.parts)] == path.parts), path, what)
        ends[id(node)] = path


def _overlap(a: ast.Path, b: ast.Path, what: str) -> None:
    one = ", ".join(str(p) if isinstance(p, str) else f"[{p}]" for p in a.parts)
    two = ", ".join(str(p) if isinstance(p, str) else f"[{p}]" for p in b.parts)
    raise validation(
        f"Invalid {what}: Two document paths overlap with each other; must remove or rewrite one of "
        f"these paths; path one: [{one}], path two: [{two}]"
    )


_COUNTED_KEYWORDS = frozenset({"AND", "OR", "NOT", "BETWEEN", "IN"})
_COUNTED_OPS = frozenset({*COMPARATORS, "+", "-"})


def _count_operators_and_match(tokens: list[Token], what: str) -> dict[int, int]:
    """Refuse more than `MAX_OPERATORS` operators and functions (AWS's message, counted up to
    the first one too many); return the index of the ")" closing each "(", by the index of the "("."""
    count = 0
    opened: list[int] = []
    closing: dict[int, int] = {}
    betweens = [0]  # per parenthesis depth: BETWEENs whose AND is still to come
    for j, tok in enumerate(tokens):
        counted = False
        if tok.type == "kw":
            counted = tok.text in _COUNTED_KEYWORDS
            if tok.text == "BETWEEN":
                betweens[-1] += 1
            elif tok.text == "AND" and betweens[-1]:
                betweens[-1] -= 1  # the AND of "BETWEEN a AND b" belongs to the BETWEEN
                counted = False
        elif tok.type == "op":
            counted = tok.text in _COUNTED_OPS
            if tok.text == "(":
                opened.append(j)
                betweens.append(0)
            elif tok.text == ")" and opened:
                closing[opened.pop()] = j
                betweens.pop()
        elif tok.type == "name":
            counted = tokens[j + 1].type == "op" and tokens[j + 1].text == "("
        if counted:
            count += 1
            if count > MAX_OPERATORS:
                raise validation(
                    f"Invalid {what}: The expression contains too many operators; operator count: {count}"
                )
    return closing
