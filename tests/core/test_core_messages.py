import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.core.membership import Membership
from cluster.core.messages import Message, MessageDecodeError, MessageKind, message_from_wire, message_to_wire
from cluster.core.types import Entry

node_names = st.text(min_size=1, max_size=8)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    kind = draw(st.sampled_from(MessageKind))
    term = draw(st.integers(min_value=0, max_value=10**12))
    log_term = draw(st.integers(min_value=0, max_value=term))
    index = draw(st.integers(min_value=0, max_value=10**12))
    entries: tuple[Entry, ...] = ()
    snapshot_membership = b""
    if kind is MessageKind.SNAPSHOT:
        term = max(term, 1)
        log_term = draw(st.integers(min_value=1, max_value=term))
        index = max(index, 1)
        snapshot_membership = Membership(tuple(draw(st.lists(node_names, min_size=1, max_size=5, unique=True)))).encode()
    if kind is MessageKind.APPEND and term >= 1:
        commands = draw(st.lists(st.binary(max_size=40), max_size=5))
        entry_term = max(log_term, 1)
        entries = tuple(Entry(entry_term, index + 1 + offset, command) for offset, command in enumerate(commands))
    return Message(
        kind=kind,
        sender=draw(node_names),
        recipient=draw(node_names),
        term=term,
        log_term=log_term,
        index=index,
        entries=entries,
        commit=draw(st.integers(min_value=0, max_value=10**12)),
        reject=draw(st.booleans()),
        reject_hint=draw(st.integers(min_value=0, max_value=10**12)),
        lease_stamp=draw(st.integers(min_value=0, max_value=10**12)),
        transfer=draw(st.booleans()),
        snapshot_membership=snapshot_membership,
    )


@given(messages())
def test_round_trip_through_json(message: Message) -> None:
    wire = json.loads(json.dumps(message_to_wire(message)))
    assert message_from_wire(wire) == message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300)
@given(json_values)
def test_arbitrary_json_never_raises_anything_but_decode_error(data: Any) -> None:
    try:
        decoded = message_from_wire(data)
    except MessageDecodeError:
        return
    assert message_to_wire(decoded) == data


@settings(max_examples=300)
@given(messages(), st.sampled_from(list(message_to_wire(Message(MessageKind.VOTE, "a", "b", 1)))), json_values)
def test_corrupting_one_field_is_rejected_or_still_well_formed(message: Message, field: str, value: Any) -> None:
    wire = message_to_wire(message)
    wire[field] = value
    try:
        decoded = message_from_wire(wire)
    except MessageDecodeError:
        return
    assert message_to_wire(decoded) == wire


@pytest.mark.parametrize(
    "mutate",
    [
        lambda wire: wire.pop("term"),
        lambda wire: wire.update(term=-1),
        lambda wire: wire.update(index=-5),
        lambda wire: wire.update(term=True),
        lambda wire: wire.update(term=1.5),
        lambda wire: wire.update(kind="bogus"),
        lambda wire: wire.update(sender=""),
        lambda wire: wire.update(reject="no"),
        lambda wire: wire.update(entries="x"),
        lambda wire: wire.update(entries=[[1, 9, ""]]),  # not contiguous after index 5
        lambda wire: wire.update(entries=[[1, 6, "***"]]),  # not base64
        lambda wire: wire.update(entries=[[9, 6, ""]]),  # entry term above the message term
        lambda wire: wire.update(entries=[[1, 6]]),
        lambda wire: wire.update(log_term=7),
    ],
)
def test_specific_malformations_are_rejected(mutate: Any) -> None:
    wire = message_to_wire(Message(MessageKind.APPEND, "a", "b", term=3, log_term=1, index=5))
    mutate(wire)
    with pytest.raises(MessageDecodeError):
        message_from_wire(wire)


def test_decode_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        message_from_wire([])


def test_a_snapshot_message_carries_its_membership_and_refuses_to_travel_without_it() -> None:
    membership = Membership(("a", "b", "c"), ("d",))
    message = Message(MessageKind.SNAPSHOT, "a", "b", 3, log_term=2, index=40, commit=41, snapshot_membership=membership.encode())
    decoded = message_from_wire(json.loads(json.dumps(message_to_wire(message))))
    assert decoded == message and Membership.decode(decoded.snapshot_membership) == membership
    bare = message_to_wire(message)
    del bare["snapshot_membership"]
    with pytest.raises(MessageDecodeError, match="snapshot needs"):
        message_from_wire(bare)
    with pytest.raises(MessageDecodeError, match="non-empty base64"):
        message_from_wire(message_to_wire(message) | {"snapshot_membership": ""})
    # The other kinds' wire form is what it was before snapshots.
    assert "snapshot_membership" not in message_to_wire(Message(MessageKind.APPEND, "a", "b", 3))
    with pytest.raises(MessageDecodeError, match="only SNAPSHOT carries a membership"):
        message_from_wire(message_to_wire(message) | {"kind": "append"})
