"""Typed item commands: what the router encodes is what every replica decodes, in the WAL's JSON shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cluster.api.item_commands import (
    BatchCommand,
    DeleteCommand,
    ItemCommand,
    LocatedWrite,
    PutCommand,
    UpdateCommand,
    decode_item_command,
    encode_command,
)
from cluster.api.requests import ConditionSource, UpdateSource
from cluster.node.partition_state_machine import PartitionStateMachine

CONDITION = ConditionSource("attribute_not_exists(#p) OR #n < :n", {"#p": "pk", "#n": "n"}, {":n": {"N": "3"}})
COMMANDS: list[ItemCommand] = [
    PutCommand(7, b"\x00k", {"pk": {"S": "k"}, "n": {"N": "1"}}, CONDITION, return_old=True),
    PutCommand(7, b"k", {"pk": {"S": "k"}}),
    DeleteCommand(9, b"k2", CONDITION, return_old=False),
    UpdateCommand(
        9, b"k2", {"pk": {"S": "k2"}}, UpdateSource("ADD #n :one", {"#n": "n"}, {":one": {"N": "1"}}), None, "ALL_NEW"
    ),
    BatchCommand((LocatedWrite(1, b"a", {"pk": {"S": "a"}}), LocatedWrite(2, b"b", None))),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: type(command).__name__)
def test_every_command_decodes_to_what_was_encoded(command: ItemCommand) -> None:
    assert decode_item_command(json.loads(encode_command(command))) == command


def test_the_log_format_is_the_one_older_wals_and_archives_hold() -> None:
    # An archived WAL written before the commands were typed must replay unchanged.
    written_before = {
        "op": "put", "hash": 7, "key": "AGs=", "item": {"pk": {"S": "k"}},
        "condition": {"expression": "attribute_not_exists(pk)", "names": None, "values": None,
                      "kind": "ConditionExpression"},
        "return_old": True,
    }
    command = decode_item_command(written_before)
    assert command == PutCommand(7, b"\x00k", {"pk": {"S": "k"}}, ConditionSource("attribute_not_exists(pk)", None, None), True)
    assert json.loads(encode_command(command)) == written_before


@pytest.mark.parametrize("decoded", [{"op": "upsert", "hash": 1, "key": "AA=="}, {"op": "put", "hash": 1}, {"hash": 1}])
def test_an_unknown_or_incomplete_command_is_refused(decoded: dict) -> None:
    with pytest.raises((KeyError, ValueError)):
        decode_item_command(decoded)


def test_replicas_answer_a_malformed_command_as_invalid_and_change_nothing(tmp_path: Path) -> None:
    machine = PartitionStateMachine(tmp_path / "replica")
    assert machine._apply_one(b'{"op":"upsert","hash":1,"key":"AA=="}')["status"] == "invalid"
    assert machine._apply_one(encode_command(COMMANDS[1]))["status"] == "ok"
    update = machine._apply_one(encode_command(UpdateCommand(7, b"k", {"pk": {"S": "k"}},
                                                             UpdateSource("ADD n :one", None, {":one": {"N": "2"}}),
                                                             None, "UPDATED_NEW")))
    assert update["attributes"] == {"n": {"N": "2"}}
    assert machine.get(7, b"k") == {"pk": {"S": "k"}, "n": {"N": "2"}}
