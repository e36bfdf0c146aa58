"""Pure classification of what a canary saw: no I/O, no clock.

A canary reports what a customer's first attempt experienced, so the classes below are
the ones a customer (or their on-call) would act on: a refused connection is not a
timeout, and a throttle is not a server error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

# cross_read: a consistent read, through another endpoint, of the key a canary just wrote through its own
# AZ's endpoint (canaries/cross_read.py): a router that still routes to a deposed leader answers stale.
Operation = Literal["write", "consistent_read", "eventual_read", "cross_read"]
Outcome = Literal["ok", "error", "stale", "mismatch"]

OPERATIONS: tuple[Operation, ...] = ("write", "consistent_read", "eventual_read", "cross_read")
# Reads that must see every acknowledged write: an older answer is a data violation, not a lag.
CONSISTENT_READ_OPERATIONS: frozenset[Operation] = frozenset({"consistent_read", "cross_read"})
OUTCOMES: tuple[Outcome, ...] = ("ok", "error", "stale", "mismatch")

# Bounds the walk down an exception's cause chain (a cycle would otherwise loop forever).
_CAUSE_CHAIN_DEPTH_MAX = 16

# botocore exception class name → the name we record. Other botocore classes keep their own name.
_BOTOCORE_CLASS_NAMES = {
    "ConnectionClosedError": "ConnectionClosed",
}


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error, then what it wraps: botocore keeps the urllib3 error in ``kwargs['error']``."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending and len(seen) < _CAUSE_CHAIN_DEPTH_MAX:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = getattr(current, "kwargs", None)
        if isinstance(wrapped, Mapping) and isinstance(wrapped.get("error"), BaseException):
            pending.append(wrapped["error"])
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)


def classify_exception(error: BaseException) -> str:
    """Name the failure a customer saw, e.g. ``InternalServerError`` or ``ConnectionRefused``.

    - a DynamoDB error answer (botocore ``ClientError``): its error code;
    - a refused or reset connection anywhere in the cause chain: ``ConnectionRefused`` / ``ConnectionReset``;
    - otherwise the botocore class name (``ReadTimeoutError``, ``ConnectTimeoutError``, ...).
    """
    response = getattr(error, "response", None)
    if isinstance(response, Mapping):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    for cause in _causes(error):
        if isinstance(cause, ConnectionRefusedError):
            return "ConnectionRefused"
        if isinstance(cause, ConnectionResetError):
            return "ConnectionReset"
    name = type(error).__name__
    return _BOTOCORE_CLASS_NAMES.get(name, name)


SEQUENCE_ATTRIBUTE = "sequence"


def item_sequence(item: Mapping[str, Any] | None) -> int | None:
    """The probe sequence number stored in a DynamoDB wire item; None when the item is absent.

    Raises ValueError when the item exists but holds no readable sequence: a probe never writes that.
    """
    if not item:
        return None
    cell = item.get(SEQUENCE_ATTRIBUTE)
    if not isinstance(cell, Mapping) or "N" not in cell:
        raise ValueError(f"item has no numeric {SEQUENCE_ATTRIBUTE!r} attribute: {dict(item)!r}")
    return int(cell["N"])


def classify_read(
    operation: Operation, written_sequence: int | None, read_item: Mapping[str, Any] | None
) -> Outcome:
    """Judge a successful read of the key the probe just wrote.

    A canary writes increasing sequence numbers, so an answer older than the write is
    recognisable. ``written_sequence`` is None when the write did not succeed: its effect
    is then unknown, so any well-formed answer is acceptable and the read only measures
    availability.

    - the sequence just written: ``ok``;
    - absent or an older sequence: ``stale`` for an eventually consistent read (allowed),
      ``mismatch`` for a consistent read, own endpoint or cross (a customer saw a lost write);
    - a newer sequence or a malformed item: ``mismatch`` (nobody wrote that).
    """
    try:
        read_sequence = item_sequence(read_item)
    except ValueError:
        return "mismatch"
    if written_sequence is None or read_sequence == written_sequence:
        return "ok"
    if read_sequence is None or read_sequence < written_sequence:
        return "stale" if operation == "eventual_read" else "mismatch"
    return "mismatch"
