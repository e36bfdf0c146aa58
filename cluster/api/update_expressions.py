"""UpdateExpression: parser and evaluator (SET, REMOVE, ADD, DELETE on document paths).

Like conditions, parsing is a pure function of (expression, names, values) and applying is a
pure function of (parsed update, current item), so every replica that applies the same log
entry to the same item computes the same new item, or the same error.

Semantics follow the developer guide ("Update expressions") and dynalite where the guide is
silent: every SET operand is read from the item as it was before the update; REMOVE of list
elements uses the positions in that item too (the guide's `REMOVE RelatedItems[1], RelatedItems[2]`
removes Hammer and Nails, the original second and third elements); SET on a list index past the
end appends, several such elements in order of their index.
"""

from __future__ import annotations

from dataclasses import dataclass

from cluster.api.attribute_values import (
    MAX_ITEM_SIZE_BYTES,
    SET_TYPES,
    Item,
    add_numbers,
    copy_value,
    decode_binary,
    item_size_bytes,
    named_attribute_size_bytes,
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
from cluster.api.expressions import ExpressionParser, ValueOperand

KIND = "UpdateExpression"
SECTIONS = ("SET", "REMOVE", "ADD", "DELETE")
UPDATE_FUNCTIONS = {"if_not_exists": 2, "list_append": 2}
# DynamoDB's names for types in "Incorrect operand type ... operator: ADD" messages.
_TYPE_WORDS = {
    "S": "STRING",
    "N": "NUMBER",
    "B": "BINARY",
    "NULL": "NULL",
    "BOOL": "BOOLEAN",
    "L": "LIST",
    "M": "MAP",
}

INVALID_PATH = "The document path provided in the update expression is invalid for update"
WRONG_TYPE = "An operand in the update expression has an incorrect data type"
MISSING_ATTRIBUTE = "The provided expression refers to an attribute that does not exist in the item"


# ---------------------------------------------------------------------------- parsed form


@dataclass(frozen=True)
class IfNotExists:
    path: PathOperand
    fallback: SetValue


@dataclass(frozen=True)
class ListAppend:
    first: SetValue
    second: SetValue


@dataclass(frozen=True)
class Arithmetic:
    operator: str  # "+" or "-"
    left: SetValue
    right: SetValue


SetValue = PathOperand | ValueOperand | IfNotExists | ListAppend | Arithmetic


@dataclass(frozen=True)
class SetAction:
    path: PathOperand
    value: SetValue


@dataclass(frozen=True)
class RemoveAction:
    path: PathOperand


@dataclass(frozen=True)
class AddAction:
    path: PathOperand
    value: dict
    placeholder: str = ""


@dataclass(frozen=True)
class DeleteAction:
    path: PathOperand
    value: dict
    placeholder: str = ""


UpdateAction = SetAction | RemoveAction | AddAction | DeleteAction


@dataclass(frozen=True)
class UpdateExpression:
    expression: str
    actions: tuple[UpdateAction, ...]
    names_used: frozenset[str]
    values_used: frozenset[str]

    @property
    def paths(self) -> tuple[tuple[PathElement, ...], ...]:
        """The document paths the update writes, in the order written (UPDATED_OLD / UPDATED_NEW)."""
        return tuple(action.path.elements for action in self.actions)


# ---------------------------------------------------------------------------- parser


class _UpdateParser(ExpressionParser):
    def parse_update(self) -> list[UpdateAction]:
        actions: list[UpdateAction] = []
        seen: set[str] = set()
        if self.peek().kind == "end":
            raise self.syntax_error()
        while self.peek().kind != "end":
            token = self.peek()
            section = token.text.upper() if token.kind == "name" else ""
            if section not in SECTIONS:
                raise self.syntax_error()
            if section in seen:
                raise self.error(f'The "{section}" section can only be used once in an update expression;')
            seen.add(section)
            self.advance()
            actions.append(self.parse_action(section))
            while self.at_punctuation(","):
                self.advance()
                actions.append(self.parse_action(section))
        return actions

    def parse_action(self, section: str) -> UpdateAction:
        path = self.parse_path()
        if section == "REMOVE":
            return RemoveAction(path)
        if section == "SET":
            token = self.peek()
            if token.kind != "comparator" or token.text != "=":
                raise self.syntax_error()
            self.advance()
            return SetAction(path, self.parse_set_value())
        value = self.parse_value_placeholder()
        type_name = next(iter(value.value))
        if type_name not in SET_TYPES and not (section == "ADD" and type_name == "N"):
            raise self.error(
                f"Incorrect operand type for operator or function; operator: {section}, "
                f"operand type: {_TYPE_WORDS[type_name]}"
            )
        action = AddAction if section == "ADD" else DeleteAction
        return action(path, value.value, value.placeholder)

    def parse_value_placeholder(self) -> ValueOperand:
        if self.peek().kind != "value_placeholder":
            raise self.syntax_error()
        operand = self.parse_operand()
        assert isinstance(operand, ValueOperand)
        return operand

    def parse_set_value(self) -> SetValue:
        left = self.parse_set_operand()
        if self.at_punctuation("+") or self.at_punctuation("-"):
            operator = self.advance().text
            right = self.parse_set_operand()
            for operand in (left, right):
                self.check_immediate_type(operator, operand, "N")
            return Arithmetic(operator, left, right)
        return left

    def parse_set_operand(self) -> SetValue:
        if self.at_punctuation("("):
            self.advance()
            value = self.parse_set_value()
            self.expect_punctuation(")")
            return value
        token = self.peek()
        if token.kind == "name" and self.next_is_call():
            return self.parse_update_function()
        if token.kind == "value_placeholder":
            return self.parse_value_placeholder()
        return self.parse_path()

    def parse_update_function(self) -> SetValue:
        name = self.advance().text
        if name not in UPDATE_FUNCTIONS:
            raise self.error(f"Invalid function name; function: {name}")
        self.expect_punctuation("(")
        arguments = [self.parse_set_value()]
        while self.at_punctuation(","):
            self.advance()
            arguments.append(self.parse_set_value())
        self.expect_punctuation(")")
        if len(arguments) != UPDATE_FUNCTIONS[name]:
            raise self.error(
                "Incorrect number of operands for operator or function; "
                f"operator or function: {name}, number of operands: {len(arguments)}"
            )
        if name == "if_not_exists":
            path = arguments[0]
            if not isinstance(path, PathOperand):
                raise self.error(
                    f"Operator or function requires a document path; operator or function: {name}"
                )
            return IfNotExists(path, arguments[1])
        for operand in arguments:
            self.check_immediate_type(name, operand, "L")
        return ListAppend(arguments[0], arguments[1])

    def check_immediate_type(self, function: str, operand: SetValue, wanted: str) -> None:
        if isinstance(operand, ValueOperand) and next(iter(operand.value)) != wanted:
            raise self.error(
                "Incorrect operand type for operator or function; "
                f"operator or function: {function}, operand type: {next(iter(operand.value))}"
            )


# Parsed updates by (text, names, each value's type, check_unused): a workload sends the same few
# expressions with new values, and every replica parses each one again. The parse depends on a
# value only through its type, so a parse made once is reused with each request's values bound in.
_STRUCTURE_CACHE_SIZE = 512
_structures: dict[tuple, UpdateExpression] = {}


def parse_update(
    expression: str, names: dict | None, values: dict | None, *, check_unused: bool = True
) -> UpdateExpression:
    text = check_expression_text(expression, KIND)
    normalized_names = normalize_expression_names(names)
    normalized_values = normalize_expression_values(values)
    structure_key = (
        text,
        tuple(sorted(normalized_names.items())) if normalized_names else (),
        tuple(sorted((placeholder, next(iter(value))) for placeholder, value in normalized_values.items()))
        if normalized_values
        else (),
        check_unused,
    )
    known = _structures.get(structure_key)
    if known is not None:
        return _bind_values(known, normalized_values or {})
    parser = _UpdateParser(text, KIND, normalized_names, normalized_values)
    actions = parser.parse_update()
    parser.expect_end()
    check_paths_apart([action.path.elements for action in actions], KIND)
    if check_unused:
        check_all_placeholders_used(
            normalized_names, normalized_values, parser.names_used, parser.values_used
        )
    parsed = UpdateExpression(
        text, tuple(actions), frozenset(parser.names_used), frozenset(parser.values_used)
    )
    if len(_structures) >= _STRUCTURE_CACHE_SIZE:
        _structures.clear()  # a workload's expressions are few; one that makes many starts over
    _structures[structure_key] = parsed
    return parsed


def _bind_values(parsed: UpdateExpression, values: dict[str, dict]) -> UpdateExpression:
    """The same update with this request's values (same placeholders, same types) in its operands."""
    return UpdateExpression(
        parsed.expression,
        tuple(_bind_action(action, values) for action in parsed.actions),
        parsed.names_used,
        parsed.values_used,
    )


def _bind_action(action: UpdateAction, values: dict[str, dict]) -> UpdateAction:
    if isinstance(action, SetAction):
        return SetAction(action.path, _bind_operand(action.value, values))
    if isinstance(action, RemoveAction):
        return action
    placeholder = action.placeholder
    return type(action)(action.path, values[placeholder], placeholder)


def _bind_operand(value: SetValue, values: dict[str, dict]) -> SetValue:
    if isinstance(value, ValueOperand):
        return ValueOperand(value.placeholder, values[value.placeholder])
    if isinstance(value, IfNotExists):
        return IfNotExists(value.path, _bind_operand(value.fallback, values))
    if isinstance(value, ListAppend):
        return ListAppend(_bind_operand(value.first, values), _bind_operand(value.second, values))
    if isinstance(value, Arithmetic):
        return Arithmetic(
            value.operator, _bind_operand(value.left, values), _bind_operand(value.right, values)
        )
    return value  # a document path: no value in it


# ---------------------------------------------------------------------------- evaluation


def _number(value: dict) -> str:
    if "N" not in value:
        raise ValidationException(WRONG_TYPE)
    return value["N"]


def _resolve(value: SetValue, item: Item) -> dict:
    if isinstance(value, ValueOperand):
        return value.value
    if isinstance(value, PathOperand):
        found = value.resolve(item)
        if found is None:
            raise ValidationException(MISSING_ATTRIBUTE)
        return found
    if isinstance(value, IfNotExists):
        found = value.path.resolve(item)
        return found if found is not None else _resolve(value.fallback, item)
    if isinstance(value, ListAppend):
        first, second = _resolve(value.first, item), _resolve(value.second, item)
        if "L" not in first or "L" not in second:
            raise ValidationException(WRONG_TYPE)
        return {"L": first["L"] + second["L"]}
    left, right = _number(_resolve(value.left, item)), _number(_resolve(value.right, item))
    return {"N": add_numbers(left, right, value.operator)}


def _set_member_identity(type_name: str, member: str) -> object:
    if type_name == "NS":
        return parse_number(member)
    if type_name == "BS":
        return decode_binary(member)
    return member


def _set_union(type_name: str, existing: list[str], added: list[str]) -> list[str]:
    seen = {_set_member_identity(type_name, member) for member in existing}
    union = list(existing)
    for member in added:
        identity = _set_member_identity(type_name, member)
        if identity not in seen:
            seen.add(identity)
            union.append(member)
    return union


def _set_difference(type_name: str, existing: list[str], removed: list[str]) -> list[str]:
    gone = {_set_member_identity(type_name, member) for member in removed}
    return [member for member in existing if _set_member_identity(type_name, member) not in gone]


class _Slot:
    """Where a path's last element lives: a map's member or a list's position."""

    def __init__(self, root: dict, elements: tuple[PathElement, ...]) -> None:
        container: dict | None = root
        for element in elements[:-1]:
            container = _child(container, element)
        last = elements[-1]
        self.list: list | None = (
            container.get("L") if container is not None and isinstance(last, int) else None
        )
        self.map: dict | None = (
            container.get("M") if container is not None and isinstance(last, str) else None
        )
        if self.list is None and self.map is None:
            raise ValidationException(INVALID_PATH)
        self.element = last

    def get(self) -> dict | None:
        if self.map is not None:
            return self.map.get(self.element)  # type: ignore[arg-type]
        assert self.list is not None and isinstance(self.element, int)
        return self.list[self.element] if self.element < len(self.list) else None

    def put(self, value: dict) -> None:
        if self.map is not None:
            self.map[self.element] = value  # type: ignore[index]
            return
        assert self.list is not None and isinstance(self.element, int)
        if self.element < len(self.list):
            self.list[self.element] = value
        else:
            self.list.append(value)  # past the end: appended, as DynamoDB does

    def remove(self) -> None:
        if self.map is not None:
            self.map.pop(self.element, None)  # type: ignore[call-overload]
        elif self.list is not None and isinstance(self.element, int) and self.element < len(self.list):
            del self.list[self.element]


def _child(container: dict | None, element: PathElement) -> dict | None:
    if container is None:
        return None
    if isinstance(element, int):
        elements = container.get("L")
        return elements[element] if elements is not None and element < len(elements) else None
    members = container.get("M")
    return members.get(element) if members is not None else None


def check_key_unchanged(update: UpdateExpression, key_names: tuple[str, ...]) -> None:
    """DynamoDB refuses an update (UpdateItem, a transaction's Update) that writes a key attribute."""
    for path in update.paths:
        if path[0] in key_names:
            raise ValidationException(
                f"One or more parameter values were invalid: Cannot update attribute {path[0]}. "
                "This attribute is part of the key"
            )


def only_removes(update: UpdateExpression) -> bool:
    """True when the update only takes attributes or set members away (REMOVE, DELETE)."""
    return all(isinstance(action, RemoveAction | DeleteAction) for action in update.actions)


def apply_update(update: UpdateExpression, current: Item | None, key: Item) -> Item:
    """The item after the update; `current` None means absent (the update creates it from `key`).
    Raises ValidationException, identically on every replica, when the update cannot apply."""
    return apply_update_sized(update, current, key)[0]


def apply_update_sized(
    update: UpdateExpression, current: Item | None, key: Item, current_size: int | None = None
) -> tuple[Item, int]:
    """apply_update, and the new item's size, which it measures anyway (the limit). `current_size` is
    `current`'s size when the caller knows it: then only the attributes the update touches are sized."""
    original = current if current is not None else key
    # Every path starts at a top-level attribute, and nothing outside those is written: the new item
    # shares the others with `original` (a whole-item copy was a fifth of an apply). Only an attribute
    # changed inside (a nested path) is copied; one a top-level action replaces is replaced by a new
    # value, and the values shared below are never changed in place by anything after the apply.
    touched = {action.path.elements[0] for action in update.actions}
    new_item = dict(original)
    for name in {action.path.elements[0] for action in update.actions if len(action.path.elements) > 1}:
        if name in new_item:
            new_item[name] = copy_value(new_item[name])
    root = {"M": new_item}
    # Every SET operand reads the item as it was before any action of this update.
    set_values = {
        position: _resolve(action.value, original)
        for position, action in enumerate(update.actions)
        if isinstance(action, SetAction)
    }
    # In path order: elements SET past a list's end are appended "in order by element number"
    # (developer guide), whatever order the expression names them in. Paths never overlap, so
    # the order changes nothing else.
    writes = sorted(
        (position for position, action in enumerate(update.actions) if not isinstance(action, RemoveAction)),
        key=lambda position: update.actions[position].path.elements,
    )
    for position in writes:
        action = update.actions[position]
        slot = _Slot(root, action.path.elements)
        if isinstance(action, SetAction):
            # Copied only when it lands inside a copied attribute, which a later action may change.
            value = set_values[position]
            slot.put(copy_value(value) if len(action.path.elements) > 1 else value)
        elif isinstance(action, AddAction):
            _add(slot, action.value)
        else:
            _delete(slot, action.value)
    # Removals last, deepest and highest index first, so list positions are the original ones.
    removals = sorted(
        (action.path.elements for action in update.actions if isinstance(action, RemoveAction)), reverse=True
    )
    slots = [_Slot(root, elements) for elements in removals]  # every path checked before any removal
    for slot in slots:
        slot.remove()
    if current is None or current_size is None or 2 * len(touched) >= len(new_item):
        size = item_size_bytes(new_item)  # sizing the touched attributes twice would cost as much
    else:
        size = current_size + _attributes_size(new_item, touched) - _attributes_size(original, touched)
    if size > MAX_ITEM_SIZE_BYTES:
        raise ValidationException("Item size to update has exceeded the maximum allowed size")
    return new_item, size


def _attributes_size(item: Item, names: set[str]) -> int:
    return sum(named_attribute_size_bytes(name, item[name]) for name in names if name in item)


def _add(slot: _Slot, value: dict) -> None:
    type_name, raw = next(iter(value.items()))
    existing = slot.get()
    if existing is None:
        slot.put(copy_value(value))
        return
    if type_name not in existing:
        raise ValidationException(WRONG_TYPE)
    if type_name == "N":
        slot.put({"N": add_numbers(existing["N"], raw)})
    else:
        slot.put({type_name: _set_union(type_name, existing[type_name], raw)})


def _delete(slot: _Slot, value: dict) -> None:
    type_name, raw = next(iter(value.items()))
    existing = slot.get()
    if existing is None:
        return
    if type_name not in existing:
        raise ValidationException(WRONG_TYPE)
    remaining = _set_difference(type_name, existing[type_name], raw)
    if remaining:
        slot.put({type_name: remaining})
    else:
        slot.remove()  # sets cannot be empty: the attribute goes
