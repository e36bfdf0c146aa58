"""Tokens of DynamoDB's expression languages (conditions, projections, updates) and the
syntax-error message DynamoDB gives for the token where parsing stopped."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from cluster.api.errors import ValidationException


@dataclass(frozen=True)
class Token:
    kind: (
        str  # "name", "name_placeholder", "value_placeholder", "integer", "punctuation", "comparator", "end"
    )
    text: str
    start: int
    end: int


_TOKEN_PATTERN = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<name_placeholder>#[A-Za-z0-9_]+)"
    r"|(?P<value_placeholder>:[A-Za-z0-9_]+)"
    r"|(?P<comparator><>|<=|>=|=|<|>)"
    r"|(?P<name>[A-Za-z][A-Za-z0-9_]*)"  # DynamoDB: a name may not start with "_" or a digit
    r"|(?P<integer>[0-9]+)"
    r"|(?P<punctuation>[(),.\[\]+-])"
)


def syntax_error(kind: str, source: str, token: Token, previous: Token | None) -> ValidationException:
    shown = "<EOF>" if token.kind == "end" else token.text
    near_start = previous.start if previous is not None else token.start
    near = source[near_start : token.end].strip()
    return ValidationException(f'Invalid {kind}: Syntax error; token: "{shown}", near: "{near}"')


# Applications send the same few expression texts again and again (values travel in placeholders);
# every UpdateItem is parsed on the router and on each replica, and tokenizing was a third of a parse.
TOKENIZED_EXPRESSIONS_CACHED = 1024


@functools.lru_cache(maxsize=TOKENIZED_EXPRESSIONS_CACHED)
def tokenize(source: str, kind: str) -> tuple[Token, ...]:
    """The tokens of `source`, ending with an "end" token; immutable, as callers share a cached result."""
    tokens: list[Token] = []
    position = 0
    while position < len(source):
        match = _TOKEN_PATTERN.match(source, position)
        if match is None:
            bad = Token("invalid", source[position], position, position + 1)
            raise syntax_error(kind, source, bad, tokens[-1] if tokens else None)
        token_kind = match.lastgroup
        assert token_kind is not None
        if token_kind != "space":
            tokens.append(Token(token_kind, match.group(), match.start(), match.end()))
        position = match.end()
    tokens.append(Token("end", "", len(source), len(source)))
    return tuple(tokens)


