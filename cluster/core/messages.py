"""Raft messages between replicas of one group, and their JSON-able wire form.

One frozen dataclass with a kind keeps the runtime's plumbing trivial; fields a kind does not use
keep their defaults. The decoder is the trust boundary: it rejects anything malformed with
MessageDecodeError so that Replica.step only ever sees well-formed messages.
"""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass
from typing import Any

from cluster.core.types import Entry


class MessageKind(enum.Enum):
    PRE_VOTE = "pre_vote"
    PRE_VOTE_RESPONSE = "pre_vote_response"
    VOTE = "vote"
    VOTE_RESPONSE = "vote_response"
    # Heartbeats are APPENDs without entries.
    APPEND = "append"
    APPEND_RESPONSE = "append_response"
    TIMEOUT_NOW = "timeout_now"
    # The leader no longer holds the entries a follower needs: install the state machine's snapshot
    # through `index` (term `log_term`) instead. The runtime carries the snapshot's data beside the
    # message; the follower answers with an APPEND_RESPONSE.
    SNAPSHOT = "snapshot"


@dataclass(frozen=True, slots=True)
class Message:
    kind: MessageKind
    sender: str
    recipient: str
    term: int
    # APPEND: term and index of the entry just before `entries`.
    # (PRE_)VOTE: term and index of the candidate's last entry.
    log_term: int = 0
    # APPEND_RESPONSE: the follower's last index known to match the leader (or the rejected index).
    index: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    # APPEND_RESPONSE with reject: the leader may resume from reject_hint + 1.
    reject_hint: int = 0
    # The leader's local tick counter when it sent an APPEND; echoed back in the response.
    lease_stamp: int = 0
    # (PRE_)VOTE caused by TIMEOUT_NOW: voters skip leader stickiness for it.
    transfer: bool = False
    # SNAPSHOT: the membership in force at the snapshot's index (Membership.encode()).
    snapshot_membership: bytes = b""


class MessageDecodeError(ValueError):
    """The bytes on the wire do not describe a well-formed Raft message."""


_INTEGER_FIELDS = ("term", "log_term", "index", "commit", "reject_hint", "lease_stamp")
_BOOLEAN_FIELDS = ("reject", "transfer")
_KINDS_BY_VALUE = {kind.value: kind for kind in MessageKind}


def message_to_wire(message: Message) -> dict[str, Any]:
    """A JSON-serialisable dict; entries become [term, index, base64 command] triples."""
    wire: dict[str, Any] = {
        "kind": message.kind.value,
        "sender": message.sender,
        "recipient": message.recipient,
        "term": message.term,
        "log_term": message.log_term,
        "index": message.index,
        "entries": [
            [entry.term, entry.index, base64.b64encode(entry.command).decode("ascii")]
            for entry in message.entries
        ],
        "commit": message.commit,
        "reject": message.reject,
        "reject_hint": message.reject_hint,
        "lease_stamp": message.lease_stamp,
        "transfer": message.transfer,
    }
    if message.snapshot_membership:  # only SNAPSHOT carries one: the other kinds' wire form stays as it was
        wire["snapshot_membership"] = base64.b64encode(message.snapshot_membership).decode("ascii")
    return wire


def _non_negative_integer(data: dict[Any, Any], field: str) -> int:
    value = data.get(field)
    # bool is an int subclass; True is not a term.
    if type(value) is not int:
        raise MessageDecodeError(f"{field} must be an integer, got {type(value).__name__}")
    if value < 0:
        raise MessageDecodeError(f"{field} must be >= 0, got {value}")
    return value


def _decode_entry(raw: object, position: int) -> Entry:
    if not isinstance(raw, list) or len(raw) != 3:
        raise MessageDecodeError(f"entries[{position}] must be a [term, index, command] list")
    term, index, command = raw
    if type(term) is not int or type(index) is not int or term < 1 or index < 1:
        raise MessageDecodeError(f"entries[{position}] needs a positive integer term and index")
    if not isinstance(command, str):
        raise MessageDecodeError(f"entries[{position}] command must be a base64 string")
    try:
        decoded = base64.b64decode(command.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as error:
        raise MessageDecodeError(f"entries[{position}] command is not base64: {error}") from None
    return Entry(term=term, index=index, command=decoded)


def describe_malformation(message: Message) -> str | None:
    """Why a message breaks the protocol's structural rules, or None when it is well-formed."""
    if not message.sender or not message.recipient:
        return "sender and recipient must be non-empty"
    if message.entries and message.kind is not MessageKind.APPEND:
        return f"only APPEND carries entries, not {message.kind.value}"
    previous_term = message.log_term
    for offset, entry in enumerate(message.entries):
        if entry.index != message.index + 1 + offset:
            return f"entries must be contiguous from index {message.index + 1}"
        if entry.term < previous_term or entry.term > message.term:
            return "entry terms must not decrease and must not exceed the message term"
        previous_term = entry.term
    if message.log_term > message.term:
        return "log_term exceeds the message term"
    if message.kind is MessageKind.SNAPSHOT and (message.index < 1 or message.log_term < 1 or not message.snapshot_membership):
        return "a snapshot needs a positive index and term and its membership"
    if message.snapshot_membership and message.kind is not MessageKind.SNAPSHOT:
        return f"only SNAPSHOT carries a membership, not {message.kind.value}"
    return None


def message_from_wire(data: object) -> Message:
    """Inverse of message_to_wire; raises MessageDecodeError (and nothing else) on malformed input."""
    if not isinstance(data, dict):
        raise MessageDecodeError(f"a message must be a JSON object, got {type(data).__name__}")
    kind_value = data.get("kind")
    if not isinstance(kind_value, str) or kind_value not in _KINDS_BY_VALUE:
        raise MessageDecodeError(f"unknown message kind {kind_value!r}")
    sender, recipient = data.get("sender"), data.get("recipient")
    if not isinstance(sender, str) or not isinstance(recipient, str):
        raise MessageDecodeError("sender and recipient must be strings")
    integers = {field: _non_negative_integer(data, field) for field in _INTEGER_FIELDS}
    booleans: dict[str, bool] = {}
    for field in _BOOLEAN_FIELDS:
        value = data.get(field)
        if not isinstance(value, bool):
            raise MessageDecodeError(f"{field} must be a boolean, got {type(value).__name__}")
        booleans[field] = value
    raw_entries = data.get("entries")
    if not isinstance(raw_entries, list):
        raise MessageDecodeError("entries must be a list")
    entries = tuple(_decode_entry(raw, position) for position, raw in enumerate(raw_entries))
    snapshot_membership = b""
    if "snapshot_membership" in data:
        raw_membership = data["snapshot_membership"]
        if not isinstance(raw_membership, str) or not raw_membership:
            raise MessageDecodeError("snapshot_membership must be a non-empty base64 string when present")
        try:
            snapshot_membership = base64.b64decode(raw_membership.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as error:
            raise MessageDecodeError(f"snapshot_membership is not base64: {error}") from None
    message = Message(
        kind=_KINDS_BY_VALUE[kind_value],
        sender=sender,
        recipient=recipient,
        entries=entries,
        snapshot_membership=snapshot_membership,
        **integers,
        **booleans,
    )
    problem = describe_malformation(message)
    if problem is not None:
        raise MessageDecodeError(problem)
    return message
