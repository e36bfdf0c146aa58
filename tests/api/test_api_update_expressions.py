"""UpdateExpression parsing and evaluation, in process: the replicas run exactly this code."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cluster.api.attribute_values import copy_value, item_size_bytes
from cluster.api.document_paths import PathOperand, check_paths_apart
from cluster.api.errors import ValidationException
from cluster.api.item_writes import apply_update, update_return_attributes
from cluster.api.projection import project
from cluster.api.requests import ConditionSource, UpdateSource, parse_request
from cluster.api.update_expressions import apply_update as apply_expression
from cluster.api.update_expressions import apply_update_sized, parse_update

KEY = {"pk": {"S": "k"}}
ITEM = {
    "pk": {"S": "k"},
    "n": {"N": "5"},
    "s": {"S": "text"},
    "tags": {"SS": ["a", "b"]},
    "nums": {"NS": ["1", "2"]},
    "lst": {"L": [{"N": "0"}, {"N": "1"}, {"N": "2"}, {"N": "3"}]},
    "doc": {"M": {"inside": {"M": {"deep": {"S": "x"}}}, "entries": {"L": [{"M": {"c": {"N": "1"}}}]}}},
}


def update(expression: str, values: dict | None = None, names: dict | None = None, item: dict | None = ITEM) -> dict:
    return apply_expression(parse_update(expression, names, values), item, KEY)


def rejected(expression: str, values: dict | None = None, names: dict | None = None, item: dict | None = ITEM) -> str:
    with pytest.raises(ValidationException) as caught:
        update(expression, values, names, item)
    return caught.value.message


def test_set_arithmetic_reads_the_item_before_the_update() -> None:
    new = update("SET n = n + :one, m = n - :one", {":one": {"N": "1"}})
    assert new["n"] == {"N": "6"} and new["m"] == {"N": "4"}
    assert update("SET n = :a - :b", {":a": {"N": "0.1"}, ":b": {"N": "0.3"}})["n"] == {"N": "-0.2"}


def test_if_not_exists_and_list_append() -> None:
    values = {":zero": {"N": "0"}, ":x": {"L": [{"S": "x"}]}, ":empty": {"L": []}}
    new = update(
        "SET hits = if_not_exists(hits, :zero), n = if_not_exists(n, :zero), "
        "lst = list_append(:x, lst), fresh = list_append(if_not_exists(fresh, :empty), :x)",
        values,
    )
    assert new["hits"] == {"N": "0"} and new["n"] == {"N": "5"}
    assert new["lst"]["L"][0] == {"S": "x"} and len(new["lst"]["L"]) == 5
    assert new["fresh"] == {"L": [{"S": "x"}]}


def test_nested_paths_set_and_remove() -> None:
    new = update(
        "SET doc.inside.deep = :v, doc.entries[0].c = :v, lst[9] = :v REMOVE lst[1], lst[2], #s",
        {":v": {"S": "v"}},
        {"#s": "s"},
    )
    assert new["doc"]["M"]["inside"]["M"]["deep"] == {"S": "v"}
    assert new["doc"]["M"]["entries"]["L"][0]["M"]["c"] == {"S": "v"}
    # Positions are the original ones: elements 1 and 2 go, index 9 appends.
    assert new["lst"] == {"L": [{"N": "0"}, {"N": "3"}, {"S": "v"}]}
    assert "s" not in new
    assert ITEM["lst"]["L"][1] == {"N": "1"}  # the input item is never changed


def test_developer_guide_list_examples() -> None:
    related = {"L": [{"S": name} for name in ("Chisel", "Hammer", "Nails", "Screwdriver", "Hacksaw")]}
    item = {**KEY, "RelatedItems": related}
    removed = update("REMOVE RelatedItems[1], RelatedItems[2]", item=item)
    assert removed["RelatedItems"] == {"L": [{"S": "Chisel"}, {"S": "Screwdriver"}, {"S": "Hacksaw"}]}
    # "If you add multiple elements in a single SET operation, the elements are sorted in order by element number."
    appended = update("SET RelatedItems[11] = :b, RelatedItems[10] = :a", {":a": {"S": "a"}, ":b": {"S": "b"}}, item=item)
    assert appended["RelatedItems"]["L"][-2:] == [{"S": "a"}, {"S": "b"}]


def test_add_and_delete_on_numbers_and_sets() -> None:
    new = update(
        "ADD n :two, tags :more, fresh :two, nums :ns",
        {":two": {"N": "2"}, ":more": {"SS": ["b", "c"]}, ":ns": {"NS": ["2", "3"]}},
    )
    assert new["n"] == {"N": "7"} and new["fresh"] == {"N": "2"}
    assert new["tags"] == {"SS": ["a", "b", "c"]} and new["nums"] == {"NS": ["1", "2", "3"]}
    emptied = update("DELETE tags :all", {":all": {"SS": ["a", "b", "z"]}})
    assert "tags" not in emptied
    assert update("DELETE absent :all", {":all": {"SS": ["a"]}}) == ITEM


def test_absent_item_is_created_from_its_key_unless_the_update_only_removes() -> None:
    assert update("SET a = :v", {":v": {"BOOL": True}}, item=None) == {**KEY, "a": {"BOOL": True}}
    assert update("ADD n :v", {":v": {"N": "1"}}, item=None) == {**KEY, "n": {"N": "1"}}
    assert apply_update(None, None, None, KEY).new_item == KEY  # an empty update creates the item
    for only_removing in (UpdateSource("REMOVE a", None, None), UpdateSource("DELETE s :v", None, {":v": {"SS": ["x"]}})):
        outcome = apply_update(only_removing, None, None, KEY)
        assert outcome.new_item is None and not outcome.changed
        assert update_return_attributes("ALL_NEW", only_removing, None, outcome.new_item) is None


@pytest.mark.parametrize(
    ("expression", "values", "message"),
    [
        ("SET s = s + :one", {":one": {"N": "1"}}, "An operand in the update expression has an incorrect data type"),
        ("ADD s :one", {":one": {"N": "1"}}, "An operand in the update expression has an incorrect data type"),
        ("SET a = nothere", None, "The provided expression refers to an attribute that does not exist in the item"),
        ("SET nope.x = :one", {":one": {"N": "1"}}, "The document path provided in the update expression is invalid for update"),
        ("SET lst.x = :one", {":one": {"N": "1"}}, "The document path provided in the update expression is invalid for update"),
        ("SET n = :big + :big", {":big": {"N": "9E+125"}}, "Number overflow"),
    ],
)
def test_apply_time_errors(expression: str, values: dict | None, message: str) -> None:
    assert rejected(expression, values).startswith(message)


@pytest.mark.parametrize(
    ("expression", "values", "message"),
    [
        ("SET a = :v SET b = :v", {":v": {"N": "1"}}, 'The "SET" section can only be used once in an update expression;'),
        ("SET a = :v, a.b = :v", {":v": {"N": "1"}}, "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]"),
        ("SET a[1] = :v REMOVE a.b", {":v": {"N": "1"}}, "Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, [1]], path two: [a, b]"),
        ("ADD a :v", {":v": {"S": "x"}}, "Incorrect operand type for operator or function; operator: ADD, operand type: STRING"),
        ("DELETE a :v", {":v": {"N": "1"}}, "Incorrect operand type for operator or function; operator: DELETE, operand type: NUMBER"),
        ("SET a = :v + :w", {":v": {"S": "x"}, ":w": {"N": "1"}}, "Incorrect operand type for operator or function; operator or function: +, operand type: S"),
        ("SET a = list_append(:v)", {":v": {"L": []}}, "Incorrect number of operands for operator or function; operator or function: list_append, number of operands: 1"),
        ("SET a = if_not_exists(:v, :v)", {":v": {"L": []}}, "Operator or function requires a document path; operator or function: if_not_exists"),
        ("SET a = size(b)", None, "Invalid function name; function: size"),
        ("SET a = :nope", None, "An expression attribute value used in expression is not defined; attribute value: :nope"),
        ("SET name = :v", {":v": {"N": "1"}}, "Attribute name is a reserved keyword; reserved keyword: name"),
        ("SET a = :v", {":v": {"N": "1"}, ":w": {"N": "1"}}, "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}"),
        ("SET a :v", {":v": {"N": "1"}}, 'Syntax error; token: ":v", near: "a :v"'),
        ("FROB a", None, 'Syntax error; token: "FROB", near: "FROB"'),
        ("SET _a = :v", {":v": {"N": "1"}}, 'Syntax error; token: "_", near: "SET _"'),
        ("SET a = :v + :v + :v", {":v": {"N": "1"}}, 'Syntax error; token: "+", near: ":v +"'),
        ("SET :v = :v", {":v": {"N": "1"}}, 'Syntax error; token: ":v", near: "SET :v"'),
    ],
)
def test_parse_errors_match_dynamodb(expression: str, values: dict | None, message: str) -> None:
    with pytest.raises(ValidationException) as caught:
        parse_update(expression, None, values)
    assert caught.value.message == f"Invalid UpdateExpression: {message}" or caught.value.message == message


def test_return_values_shapes() -> None:
    source = UpdateSource("SET n = n + :one, doc.inside.deep = :one REMOVE s", None, {":one": {"N": "1"}})
    outcome = apply_update(source, None, ITEM, KEY)
    new = outcome.new_item
    assert update_return_attributes("NONE", source, ITEM, new) is None
    assert update_return_attributes("ALL_OLD", source, ITEM, new) == ITEM
    assert update_return_attributes("ALL_NEW", source, ITEM, new) == new
    assert update_return_attributes("UPDATED_OLD", source, ITEM, new) == {
        "n": {"N": "5"}, "doc": {"M": {"inside": {"M": {"deep": {"S": "x"}}}}}, "s": {"S": "text"},
    }
    assert update_return_attributes("UPDATED_NEW", source, ITEM, new) == {
        "n": {"N": "6"}, "doc": {"M": {"inside": {"M": {"deep": {"N": "1"}}}}},
    }
    assert update_return_attributes("UPDATED_OLD", source, None, new) is None


def test_condition_sees_the_current_item() -> None:
    source = UpdateSource("SET a = :v", None, {":v": {"N": "1"}})
    condition = ConditionSource("attribute_exists(pk)", None, None)
    failed = apply_update(source, condition, None, KEY)
    assert failed.condition_failed and failed.new_item is None and not failed.changed
    held = apply_update(source, condition, ITEM, KEY)
    assert not held.condition_failed and held.new_item["a"] == {"N": "1"}


@given(st.lists(st.integers(-10**6, 10**6), min_size=1, max_size=8))
def test_add_sums_like_integers(increments: list[int]) -> None:
    item: dict | None = None
    for increment in increments:
        item = update("ADD tally :i", {":i": {"N": str(increment)}}, item=item)
    assert item is not None and item["tally"] == {"N": str(sum(increments))}


@given(st.sets(st.sampled_from("abcdef"), min_size=1), st.sets(st.sampled_from("abcdef"), min_size=1))
def test_set_add_then_delete_is_set_algebra(added: set[str], removed: set[str]) -> None:
    item = update("ADD tags :a", {":a": {"SS": sorted(added)}}, item=None)
    item = update("DELETE tags :r", {":r": {"SS": sorted(removed)}}, item=item)
    remaining = added - removed
    assert set(item.get("tags", {}).get("SS", [])) == remaining
    assert ("tags" in item) == bool(remaining)


paths = st.lists(
    st.tuples(st.sampled_from(["n", "lst", "doc", "absent"]),
              st.lists(st.one_of(st.integers(0, 4), st.sampled_from(["inside", "deep", "entries", "c"])), max_size=3)),
    min_size=1, max_size=4,
)


@given(paths)
def test_projection_keeps_exactly_what_each_path_resolves_to(raw_paths: list) -> None:
    chosen = [(first, *rest) for first, rest in raw_paths]
    try:
        check_paths_apart(chosen, "ProjectionExpression")
    except ValidationException:
        return  # overlapping paths are refused before any projection
    projected = project(ITEM, chosen)
    for path in chosen:
        original = PathOperand(path).resolve(ITEM)
        if original is None:
            continue
        # Lists are packed in index order, so an index may move; maps and leaves keep their names.
        if not any(isinstance(element, int) for element in path):
            assert PathOperand(path).resolve(projected) == original
    assert set(projected) <= {path[0] for path in chosen if PathOperand(path).resolve(ITEM) is not None}


def test_api_a_request_s_update_parses_as_a_replica_parses_it_from_the_command() -> None:
    request = parse_request("UpdateItem", {
        "TableName": "things", "Key": {"id": {"S": "a"}},
        "UpdateExpression": "SET #n = :v ADD #c :one",
        "ConditionExpression": "#w <> :v",
        "ExpressionAttributeNames": {"#n": "n", "#c": "c", "#w": "w"},
        "ExpressionAttributeValues": {":v": {"S": "x"}, ":one": {"N": "1"}},
    })
    replica_source = UpdateSource.from_json(request.update.to_json())  # what travels in the command
    assert request.update.to_json() == {"expression": "SET #n = :v ADD #c :one", "names": {"#n": "n", "#c": "c"},
                                        "values": {":v": {"S": "x"}, ":one": {"N": "1"}}}
    assert request.update == replica_source
    assert request.update.parse() == replica_source.parse()
    assert request.update.parse() is request.update.parse()  # parsed once on the router


def test_a_parse_reused_for_the_same_expression_takes_each_requests_own_values() -> None:
    # Parses are cached by text, names and value types: a cache that kept the first values would
    # apply them again here.
    text = "SET s = if_not_exists(s, :s), n = n + :one ADD nums :add, tags :tag DELETE lst2 :gone"
    for step in range(1, 4):
        values = {
            ":s": {"S": f"v{step}"},
            ":one": {"N": str(step)},
            ":add": {"NS": [str(10 * step)]},
            ":tag": {"SS": [f"t{step}"]},
            ":gone": {"SS": ["x"]},
        }
        item = {"pk": {"S": "k"}, "n": {"N": "5"}, **({"s": {"S": "kept"}} if step == 3 else {})}
        new = update(text, values, item=item)
        assert new["n"] == {"N": str(5 + step)}
        assert new["nums"] == {"NS": [str(10 * step)]}
        assert new["tags"]["SS"][-1] == f"t{step}"
        assert new["s"] == {"S": "kept" if step == 3 else f"v{step}"}


def test_a_reused_parse_still_checks_the_types_of_the_new_values() -> None:
    assert update("SET n = n + :v", {":v": {"N": "2"}})["n"] == {"N": "7"}
    assert "operand type: S" in rejected("SET n = n + :v", {":v": {"S": "2"}})
    assert update("ADD nums :v", {":v": {"NS": ["9"]}})["nums"] == {"NS": ["1", "2", "9"]}
    assert "operator: ADD, operand type: STRING" in rejected("ADD nums :v", {":v": {"S": "9"}})
    # Names are part of what a parse is reused for: another name, another attribute.
    assert update("SET #a = :v", {":v": {"N": "1"}}, {"#a": "first"})["first"] == {"N": "1"}
    assert "second" in update("SET #a = :v", {":v": {"N": "1"}}, {"#a": "second"})
    assert "unused" in rejected("SET #a = :v", {":v": {"N": "1"}, ":w": {"N": "2"}}, {"#a": "first"})


@pytest.mark.parametrize(
    ("start", "added", "total"),
    [
        ("5", "-7", "-2"),
        ("99999999999999999999999999999999999999", "-1", "99999999999999999999999999999999999998"),
        ("1.5", "2", "3.5"),
        ("1e3", "1", "1001"),
        ("-0.25", "0.25", "0"),
    ],
)
def test_add_and_arithmetic_are_exact_for_integers_and_decimals(start: str, added: str, total: str) -> None:
    item = {"pk": {"S": "k"}, "n": {"N": start}}
    assert update("ADD n :v", {":v": {"N": added}}, item=item)["n"] == {"N": total}
    assert update("SET n = n + :v", {":v": {"N": added}}, item=item)["n"] == {"N": total}


def test_a_sum_is_refused_past_38_significant_digits_not_past_38_digits() -> None:
    nines = {"pk": {"S": "k"}, "n": {"N": "9" * 38}}
    assert update("ADD n :v", {":v": {"N": "1"}}, item=nines)["n"] == {"N": "1" + "0" * 38}
    assert "38 significant digits" in rejected("ADD n :v", {":v": {"N": "0.1"}}, item=nines)
    assert "38 significant digits" in rejected("SET n = n - :v", {":v": {"N": "0.1"}}, item=nines)


WIDE_ITEM = {**ITEM, **{f"other{number}": {"M": {"v": {"S": "y" * number}}} for number in range(6)}}
actions = st.lists(
    st.sampled_from([
        "SET n = n + :one", "SET s = :text", "SET doc.inside.deep = :text", "SET lst[1] = :text",
        "SET lst[9] = :text", "SET fresh = :text", "SET doc.entries[0].c = :one", "REMOVE lst[0]",
        "REMOVE doc.inside", "REMOVE absent", "ADD tags :tags", "DELETE nums :nums", "ADD n :one",
    ]),
    min_size=1, max_size=4, unique=True,
)


@given(actions, st.booleans())
def test_an_update_sized_from_the_old_size_matches_the_new_item_and_leaves_the_old_alone(
    chosen: list[str], wide: bool
) -> None:
    sections: dict[str, list[str]] = {}
    for action in chosen:
        verb, rest = action.split(" ", 1)
        sections.setdefault(verb, []).append(rest)
    expression = " ".join(f"{verb} {', '.join(parts)}" for verb, parts in sections.items())
    values = {":one": {"N": "1"}, ":text": {"S": "new text"}, ":tags": {"SS": ["z"]}, ":nums": {"NS": ["2"]}}
    used = {name: value for name, value in values.items() if name in expression}
    try:
        parsed = parse_update(expression, None, used or None)
    except ValidationException:
        return  # overlapping paths are refused before any apply
    current = WIDE_ITEM if wide else ITEM
    before = copy_value(current)
    try:
        fully_sized = apply_update_sized(parsed, current, KEY)
    except ValidationException:
        return
    from_old_size = apply_update_sized(parsed, current, KEY, item_size_bytes(current))
    assert from_old_size == fully_sized
    assert from_old_size[1] == item_size_bytes(from_old_size[0])
    assert current == before  # the new item shares the untouched attributes, never changes them
