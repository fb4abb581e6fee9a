"""Tokens of the DynamoDB expression language, and the syntax errors AWS reports on them."""

from __future__ import annotations

from dataclasses import dataclass

from squall.protocol.errors import ServiceError
from squall.services.dynamodb.errors import validation

KEYWORDS = frozenset({"AND", "OR", "NOT", "BETWEEN", "IN", "SET", "REMOVE", "ADD", "DELETE"})
_PUNCT2 = ("<>", "<=", ">=")
_PUNCT1 = "=<>(),.[]+-"
EOF = "<EOF>"


@dataclass(frozen=True)
class Token:
    #: "name", "#name", ":value", "int", "kw" (keywords, upper-cased in `text`), "op", "eof",
    #: "bad" (a character the language does not have)
    type: str
    text: str
    start: int
    end: int


def _is_name_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def tokenize(source: str, what: str) -> list[Token]:
    """The tokens of `source`; `what` names the expression in errors ("UpdateExpression")."""
    out: list[Token] = []
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if c.isspace():
            i += 1
            continue
        if source.startswith(_PUNCT2, i):
            out.append(Token("op", source[i : i + 2], i, i + 2))
            i += 2
            continue
        if c in _PUNCT1:
            out.append(Token("op", c, i, i + 1))
            i += 1
            continue
        if c in "#:":
            j = i + 1
            while j < n and _is_name_char(source[j]):
                j += 1
            if j == i + 1:
                out.append(Token("bad", c, i, j))
                i = j
                continue
            out.append(Token("#name" if c == "#" else ":value", source[i:j], i, j))
            i = j
            continue
        if c.isdigit():
            j = i
            while j < n and source[j].isdigit():
                j += 1
            if j < n and _is_name_char(source[j]):
                while j < n and _is_name_char(source[j]):
                    j += 1
                out.append(Token("name", source[i:j], i, j))
            else:
                out.append(Token("int", source[i:j], i, j))
            i = j
            continue
        if c.isalpha() or c == "_":
            j = i
            while j < n and _is_name_char(source[j]):
                j += 1
            word = source[i:j]
            if word.upper() in KEYWORDS:
                out.append(Token("kw", word.upper(), i, j))
            else:
                out.append(Token("name", word, i, j))
            i = j
            continue
        out.append(Token("bad", c, i, i + 1))  # the parser reports it with its neighbours
        i += 1
    out.append(Token("eof", EOF, n, n))
    return out


def syntax_error(what: str, source: str, tokens: list[Token], index: int) -> ServiceError:
    """AWS's message: the offending token and the text from the token before to the token after."""
    tok = tokens[index]
    if tok.type == "eof":
        prev = tokens[index - 1] if index > 0 else tok
        near = source[prev.start : prev.end]
        return validation(f'Invalid {what}: Syntax error; token: "{EOF}", near: "{near}"')
    first = tokens[index - 1] if index > 0 else tok
    last = tokens[index + 1] if tokens[index + 1].type != "eof" else tok
    near = source[first.start : last.end]
    return validation(f'Invalid {what}: Syntax error; token: "{source[tok.start : tok.end]}", near: "{near}"')
