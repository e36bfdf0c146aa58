"""Metric and label names out of a PromQL expression, without a PromQL parser.

promtool checks the syntax (tests wrap every expression as a recording rule); this module only has to
find which names an expression depends on, so a test can hold them against the metric contract. It is
a tokenizer, not a parser: strings and durations are dropped, an identifier followed by ``(`` is a
function or aggregation, identifiers inside ``{...}`` or after ``by``/``without``/``on``/``ignoring``/
``group_left``/``group_right`` are labels, and the rest are metric names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<range>\[[^\]]*\])
  | (?P<number>(?<![A-Za-z_:])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?:ms|[smhdwy])?)
  | (?P<identifier>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<open_brace>\{) | (?P<close_brace>\})
  | (?P<open_paren>\() | (?P<close_paren>\))
  | (?P<other>\S)
    """,
    re.VERBOSE,
)

# Words that are neither metrics nor labels where they stand without a following parenthesis.
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "start", "end"})
# Aggregations may put their grouping first: `sum by (az) (...)`.
_AGGREGATIONS = frozenset(
    {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile"}
)
_LABEL_LIST_WORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})


@dataclass(frozen=True)
class ExpressionNames:
    metrics: frozenset[str]
    labels: frozenset[str]


def expression_names(expression: str) -> ExpressionNames:
    """The metric names and label names ``expression`` uses (grouping, matching and selector labels)."""
    tokens = [
        (match.lastgroup or "", match.group()) for match in _TOKEN.finditer(expression)
    ]
    metrics: set[str] = set()
    labels: set[str] = set()
    inside_braces = False
    label_list_depth: int | None = None  # paren depth of an open `by (...)`-style label list
    depth = 0
    for index, (kind, text) in enumerate(tokens):
        following, following_text = tokens[index + 1] if index + 1 < len(tokens) else ("", "")
        if kind == "open_brace":
            inside_braces = True
        elif kind == "close_brace":
            inside_braces = False
        elif kind == "open_paren":
            depth += 1
        elif kind == "close_paren":
            if label_list_depth == depth:
                label_list_depth = None
            depth -= 1
        elif kind == "identifier":
            if inside_braces or label_list_depth is not None:
                labels.add(text)
            elif text.lower() in _LABEL_LIST_WORDS and following == "open_paren":
                label_list_depth = depth + 1
            elif (
                following == "open_paren"
                or text.lower() in _KEYWORDS
                or (text.lower() in _AGGREGATIONS and following_text.lower() in {"by", "without"})
            ):
                continue  # a function, an aggregation or an operator keyword
            else:
                metrics.add(text)
    return ExpressionNames(frozenset(metrics), frozenset(labels))
