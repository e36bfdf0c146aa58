"""Condition, filter and projection expressions: parser and evaluator (tokens, paths, placeholders
and value comparison live in their own modules beside this one).

A parsed `Condition` is a tree of frozen nodes with the placeholders already substituted.
Parsing is a pure function of (expression, names, values), which is what lets a leader ship
the three strings in a replicated command and every replica rebuild the same condition.

Precedence, from the developer guide ("Precedence in conditions"), tightest first:
comparisons, BETWEEN, IN and functions; then NOT; then AND; then OR.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cluster.api.attribute_comparison import binary_bytes, compare_values, ordering_key, values_equal
from cluster.api.attribute_values import (
    ATTRIBUTE_TYPES,
    Item,
    decode_binary,
    parse_number,
)
from cluster.api.document_paths import PathElement, PathOperand, check_paths_apart
from cluster.api.errors import ValidationException
from cluster.api.expression_placeholders import (
    check_all_placeholders_used,
    check_expression_text,
    normalize_expression_names,
    normalize_expression_values,
)
from cluster.api.expression_tokens import Token, syntax_error, tokenize
from cluster.api.reserved_words import is_reserved_word

MAX_IN_OPERANDS = 100
COMPARATORS = ("=", "<>", "<", "<=", ">", ">=")
CONDITION_FUNCTIONS = (
    "attribute_exists",
    "attribute_not_exists",
    "attribute_type",
    "begins_with",
    "contains",
)
OPERAND_FUNCTIONS = ("size",)



# ---------------------------------------------------------------------------- operands


@dataclass(frozen=True)
class ValueOperand:
    placeholder: str
    value: dict

    def resolve(self, item: Item) -> dict | None:
        return self.value


@dataclass(frozen=True)
class SizeOperand:
    path: PathOperand

    def resolve(self, item: Item) -> dict | None:
        value = self.path.resolve(item)
        if value is None:
            return None
        type_name, raw = next(iter(value.items()))
        if type_name == "B":
            return {"N": str(len(decode_binary(raw)))}
        if type_name in ("S", "SS", "NS", "BS", "L", "M"):
            return {"N": str(len(raw))}
        # size() of a number, boolean or null is undefined, so any comparison with it is false.
        return None


Operand = PathOperand | ValueOperand | SizeOperand


# ---------------------------------------------------------------------------- conditions


@dataclass(frozen=True)
class Comparison:
    operator: str
    left: Operand
    right: Operand

    def evaluate(self, item: Item) -> bool:
        return compare_values(self.operator, self.left.resolve(item), self.right.resolve(item))


@dataclass(frozen=True)
class Between:
    operand: Operand
    low: Operand
    high: Operand

    def evaluate(self, item: Item) -> bool:
        value = self.operand.resolve(item)
        return compare_values(">=", value, self.low.resolve(item)) and compare_values(
            "<=", value, self.high.resolve(item)
        )


@dataclass(frozen=True)
class In:
    operand: Operand
    choices: tuple[Operand, ...]

    def evaluate(self, item: Item) -> bool:
        value = self.operand.resolve(item)
        return any(compare_values("=", value, choice.resolve(item)) for choice in self.choices)


@dataclass(frozen=True)
class AttributeExists:
    path: PathOperand

    def evaluate(self, item: Item) -> bool:
        return self.path.resolve(item) is not None


@dataclass(frozen=True)
class AttributeNotExists:
    path: PathOperand

    def evaluate(self, item: Item) -> bool:
        return self.path.resolve(item) is None


@dataclass(frozen=True)
class AttributeType:
    path: PathOperand
    type_name: str

    def evaluate(self, item: Item) -> bool:
        value = self.path.resolve(item)
        return value is not None and next(iter(value)) == self.type_name


@dataclass(frozen=True)
class BeginsWith:
    path: PathOperand
    prefix: Operand

    def evaluate(self, item: Item) -> bool:
        value, prefix = self.path.resolve(item), self.prefix.resolve(item)
        if value is None or prefix is None:
            return False
        if "S" in value and "S" in prefix:
            return bool(value["S"].startswith(prefix["S"]))
        if "B" in value and "B" in prefix:
            return binary_bytes(value).startswith(binary_bytes(prefix))
        return False


@dataclass(frozen=True)
class Contains:
    path: PathOperand
    operand: Operand

    def evaluate(self, item: Item) -> bool:
        value, wanted = self.path.resolve(item), self.operand.resolve(item)
        if value is None or wanted is None:
            return False
        value_type, raw = next(iter(value.items()))
        wanted_type = next(iter(wanted))
        if value_type == "S" and wanted_type == "S":
            return bool(wanted["S"] in raw)
        if value_type == "B" and wanted_type == "B":
            return binary_bytes(wanted) in binary_bytes(value)
        if value_type == "SS" and wanted_type == "S":
            return wanted["S"] in raw
        if value_type == "NS" and wanted_type == "N":
            number = parse_number(wanted["N"])
            return any(parse_number(member) == number for member in raw)
        if value_type == "BS" and wanted_type == "B":
            wanted_bytes = binary_bytes(wanted)
            return any(decode_binary(member) == wanted_bytes for member in raw)
        if value_type == "L":
            return any(values_equal(element, wanted) for element in raw)
        return False


@dataclass(frozen=True)
class Not:
    operand: ConditionNode

    def evaluate(self, item: Item) -> bool:
        return not self.operand.evaluate(item)


@dataclass(frozen=True)
class And:
    left: ConditionNode
    right: ConditionNode

    def evaluate(self, item: Item) -> bool:
        return self.left.evaluate(item) and self.right.evaluate(item)


@dataclass(frozen=True)
class Or:
    left: ConditionNode
    right: ConditionNode

    def evaluate(self, item: Item) -> bool:
        return self.left.evaluate(item) or self.right.evaluate(item)


ConditionNode = (
    Comparison
    | Between
    | In
    | AttributeExists
    | AttributeNotExists
    | AttributeType
    | BeginsWith
    | Contains
    | Not
    | And
    | Or
)


@dataclass(frozen=True)
class Condition:
    """A parsed condition or filter expression, ready to evaluate against items."""

    expression: str
    root: ConditionNode
    names_used: frozenset[str] = field(default_factory=frozenset)
    values_used: frozenset[str] = field(default_factory=frozenset)

    def evaluate(self, item: Item | None) -> bool:
        """True when the condition holds; an absent item behaves as an item with no attributes."""
        return self.root.evaluate(item if item is not None else {})


# ---------------------------------------------------------------------------- parser


class ExpressionParser:
    """Recursive descent over the token list; one instance parses one expression."""

    def __init__(
        self, source: str, kind: str, names: dict[str, str] | None, values: dict[str, dict] | None
    ) -> None:
        self.source = source
        self.kind = kind
        self.names = names or {}
        self.values = values or {}
        self.tokens = tokenize(source, kind)
        self.position = 0
        self.names_used: set[str] = set()
        self.values_used: set[str] = set()
        self.groups: set[tuple[int, int]] = set()  # token positions of each "(" and its ")"

    # -- helpers

    def error(self, detail: str) -> ValidationException:
        return ValidationException(f"Invalid {self.kind}: {detail}")

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.position + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tokens[self.position]
        if token.kind != "end":
            self.position += 1
        return token

    def syntax_error(self) -> ValidationException:
        previous = self.tokens[self.position - 1] if self.position > 0 else None
        return syntax_error(self.kind, self.source, self.peek(), previous)

    def expect_punctuation(self, text: str) -> None:
        token = self.peek()
        if token.kind != "punctuation" or token.text != text:
            raise self.syntax_error()
        self.advance()

    def at_keyword(self, keyword: str) -> bool:
        token = self.peek()
        return token.kind == "name" and token.text.upper() == keyword

    def at_punctuation(self, text: str) -> bool:
        token = self.peek()
        return token.kind == "punctuation" and token.text == text

    def next_is_call(self) -> bool:
        following = self.peek(1)
        return following.kind == "punctuation" and following.text == "("

    def expect_end(self) -> None:
        if self.peek().kind != "end":
            raise self.syntax_error()

    # -- conditions

    def parse_or(self) -> ConditionNode:
        node = self.parse_and()
        while self.at_keyword("OR"):
            self.advance()
            node = Or(node, self.parse_and())
        return node

    def parse_and(self) -> ConditionNode:
        node = self.parse_not()
        while self.at_keyword("AND"):
            self.advance()
            node = And(node, self.parse_not())
        return node

    def parse_not(self) -> ConditionNode:
        if self.at_keyword("NOT"):
            self.advance()
            return Not(self.parse_not())
        return self.parse_predicate()

    def parse_predicate(self) -> ConditionNode:
        if self.at_punctuation("("):
            opening = self.position
            self.advance()
            node = self.parse_or()
            closing = self.position
            self.expect_punctuation(")")
            # A group that only wraps another group, ((a = :v)), is refused, as DynamoDB does.
            if (opening + 1, closing - 1) in self.groups:
                raise self.error("The expression has redundant parentheses;")
            self.groups.add((opening, closing))
            return node
        token = self.peek()
        if token.kind == "name" and token.text in CONDITION_FUNCTIONS and self.next_is_call():
            node = self.parse_condition_function()
            if self.peek().kind == "comparator" or self.at_keyword("BETWEEN") or self.at_keyword("IN"):
                raise self.error(
                    f"The function is not allowed to be used this way in an expression; function: {token.text}"
                )
            return node
        left = self.parse_operand()
        comparator = self.peek()
        if comparator.kind == "comparator":
            self.advance()
            right = self.parse_operand()
            if comparator.text not in ("=", "<>"):
                self.check_ordered_operands(comparator.text, (left, right))
            return Comparison(comparator.text, left, right)
        if self.at_keyword("BETWEEN"):
            self.advance()
            low = self.parse_operand()
            if not self.at_keyword("AND"):
                raise self.syntax_error()
            self.advance()
            high = self.parse_operand()
            self.check_ordered_operands("BETWEEN", (left, low, high))
            self.check_between_bounds(low, high)
            return Between(left, low, high)
        if self.at_keyword("IN"):
            self.advance()
            self.expect_punctuation("(")
            choices = [self.parse_operand()]
            while self.at_punctuation(","):
                self.advance()
                choices.append(self.parse_operand())
            self.expect_punctuation(")")
            if len(choices) > MAX_IN_OPERANDS:
                raise self.error(
                    f"The IN operator is provided with too many operands; number of operands: {len(choices)}"
                )
            return In(left, tuple(choices))
        if isinstance(left, SizeOperand):
            raise self.error(
                "The function is not allowed to be used this way in an expression; function: size"
            )
        raise self.syntax_error()

    def check_ordered_operands(self, operator: str, operands: tuple[Operand, ...]) -> None:
        """Order comparisons are defined on S, N and B only. A value of another type given in the
        request is refused; one read from the item just makes the comparison false (DynamoDB's
        behaviour, as ScyllaDB's Alternator tests check it against DynamoDB)."""
        for operand in operands:
            if isinstance(operand, ValueOperand) and next(iter(operand.value)) not in ("S", "N", "B"):
                raise self.incorrect_operand_type(operator, operand.value)

    def check_between_bounds(self, low: Operand, high: Operand) -> None:
        if not (isinstance(low, ValueOperand) and isinstance(high, ValueOperand)):
            return
        low_key, high_key = ordering_key(low.value), ordering_key(high.value)
        if (
            low_key is not None
            and high_key is not None
            and low_key[0] == high_key[0]
            and low_key[1] > high_key[1]
        ):
            raise self.error(
                "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; "
                f"lower bound operand: AttributeValue: {_describe_value(low.value)}, "
                f"upper bound operand: AttributeValue: {_describe_value(high.value)}"
            )

    def parse_arguments(self, function: str) -> list[Operand]:
        self.expect_punctuation("(")
        arguments = [self.parse_operand()]
        while self.at_punctuation(","):
            self.advance()
            arguments.append(self.parse_operand())
        self.expect_punctuation(")")
        expected = {"attribute_exists": 1, "attribute_not_exists": 1, "size": 1}.get(function, 2)
        if len(arguments) != expected:
            raise self.error(
                "Incorrect number of operands for operator or function; "
                f"operator or function: {function}, number of operands: {len(arguments)}"
            )
        if not isinstance(arguments[0], PathOperand):
            raise self.error(
                f"Operator or function requires a document path; operator or function: {function}"
            )
        return arguments

    def parse_condition_function(self) -> ConditionNode:
        function = self.advance().text
        arguments = self.parse_arguments(function)
        path = arguments[0]
        assert isinstance(path, PathOperand)
        if function == "attribute_exists":
            return AttributeExists(path)
        if function == "attribute_not_exists":
            return AttributeNotExists(path)
        second = arguments[1]
        if function == "attribute_type":
            return AttributeType(path, self.attribute_type_name(second))
        if function == "begins_with":
            if isinstance(second, ValueOperand) and next(iter(second.value)) not in ("S", "B"):
                raise self.incorrect_operand_type(function, second.value)
            return BeginsWith(path, second)
        return Contains(path, second)

    def attribute_type_name(self, operand: Operand) -> str:
        if not isinstance(operand, ValueOperand):
            raise self.error(
                "Operator or function requires a value operand; operator or function: attribute_type"
            )
        if "S" not in operand.value:
            raise self.incorrect_operand_type("attribute_type", operand.value)
        type_name = operand.value["S"]
        if type_name not in ATTRIBUTE_TYPES:
            raise self.error(
                f"Invalid attribute type name found; type: {type_name}, valid types: {{B,NULL,SS,BOOL,L,BS,N,NS,S,M}}"
            )
        return str(type_name)

    def incorrect_operand_type(self, function: str, value: dict) -> ValidationException:
        return self.error(
            f"Incorrect operand type for operator or function; operator or function: {function}, "
            f"operand type: {next(iter(value))}"
        )

    # -- operands

    def parse_operand(self) -> Operand:
        token = self.peek()
        if token.kind == "value_placeholder":
            self.advance()
            if token.text not in self.values:
                raise self.error(
                    f"An expression attribute value used in expression is not defined; attribute value: {token.text}"
                )
            self.values_used.add(token.text)
            return ValueOperand(token.text, self.values[token.text])
        if token.kind == "name" and self.next_is_call():
            if token.text in OPERAND_FUNCTIONS:
                self.advance()
                path = self.parse_arguments(token.text)[0]
                assert isinstance(path, PathOperand)
                return SizeOperand(path)
            if token.text in CONDITION_FUNCTIONS:
                raise self.error(
                    f"The function is not allowed to be used this way in an expression; function: {token.text}"
                )
            raise self.error(f"Invalid function name; function: {token.text}")
        return self.parse_path()

    def parse_path_name(self) -> str:
        token = self.peek()
        if token.kind == "name_placeholder":
            self.advance()
            if token.text not in self.names:
                raise self.error(
                    f"An expression attribute name used in the document path is not defined; attribute name: {token.text}"
                )
            self.names_used.add(token.text)
            return self.names[token.text]
        if token.kind == "name":
            if is_reserved_word(token.text):
                raise self.error(f"Attribute name is a reserved keyword; reserved keyword: {token.text}")
            self.advance()
            return token.text
        raise self.syntax_error()

    def parse_path(self) -> PathOperand:
        elements: list[PathElement] = [self.parse_path_name()]
        while True:
            if self.at_punctuation("."):
                self.advance()
                elements.append(self.parse_path_name())
            elif self.at_punctuation("["):
                self.advance()
                index = self.peek()
                if index.kind != "integer":
                    raise self.syntax_error()
                self.advance()
                self.expect_punctuation("]")
                elements.append(int(index.text))
            else:
                return PathOperand(tuple(elements))


def _describe_value(value: dict) -> str:
    type_name, raw = next(iter(value.items()))
    return f"{{{type_name}:{raw}}}"


def parse_condition(
    expression: str,
    names: dict | None,
    values: dict | None,
    *,
    kind: str = "ConditionExpression",
    check_unused: bool = True,
) -> Condition:
    """Parse a ConditionExpression (or FilterExpression, with kind="FilterExpression").

    `check_unused=False` is for requests where several expressions share the placeholders;
    the caller then checks the union of what they use."""
    text = check_expression_text(expression, kind)
    normalized_names = normalize_expression_names(names)
    normalized_values = normalize_expression_values(values)
    parser = ExpressionParser(text, kind, normalized_names, normalized_values)
    root = parser.parse_or()
    parser.expect_end()
    if check_unused:
        check_all_placeholders_used(
            normalized_names, normalized_values, parser.names_used, parser.values_used
        )
    return Condition(text, root, frozenset(parser.names_used), frozenset(parser.values_used))


@dataclass(frozen=True)
class Projection:
    paths: tuple[PathOperand, ...]
    names_used: frozenset[str]


def parse_projection(expression: str, names: dict | None) -> Projection:
    """Parse a ProjectionExpression: document paths separated by commas."""
    kind = "ProjectionExpression"
    text = check_expression_text(expression, kind)
    parser = ExpressionParser(text, kind, normalize_expression_names(names), None)
    paths = [parser.parse_path()]
    while parser.at_punctuation(","):
        parser.advance()
        paths.append(parser.parse_path())
    parser.expect_end()
    check_paths_apart([path.elements for path in paths], kind)
    return Projection(tuple(paths), frozenset(parser.names_used))
