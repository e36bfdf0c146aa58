"""The effect of a write on one item, decided identically by every replica.

A replica applies a committed PutItem/DeleteItem by calling these with the item it holds;
since they are pure functions of their arguments, replicas that agree on the log agree on
the outcome, including whether the condition failed.
"""

from __future__ import annotations

from dataclasses import dataclass

from cluster.api.attribute_comparison import values_equal
from cluster.api.attribute_values import Item
from cluster.api.projection import project
from cluster.api.requests import ConditionSource, UpdateSource
from cluster.api.update_expressions import apply_update_sized, only_removes


@dataclass(frozen=True)
class WriteOutcome:
    """new_item is the item stored after the write (None: absent). When the condition
    failed nothing changes, so new_item is the current item and old_item is it too."""

    new_item: Item | None
    old_item: Item | None
    condition_failed: bool
    changed: bool
    new_size: int | None = None  # new_item's size when the write measured it already


def items_equal(left: Item | None, right: Item | None) -> bool:
    """Equal as DynamoDB sees them (set order and number spelling do not matter)."""
    if left is None or right is None:
        return left is right
    if left.keys() != right.keys():
        return False
    for name, value in left.items():
        other = right[name]
        # The same spelling is the same value; only a differing one needs DynamoDB's comparison (numbers
        # parsed, sets unordered), which was most of an update's apply when every attribute went through it.
        if value != other and not values_equal(value, other):
            return False
    return True


def _condition_holds(condition: ConditionSource | None, current: Item | None) -> bool:
    return condition is None or condition.parse().evaluate(current)


def apply_put(item: Item, condition: ConditionSource | None, current: Item | None) -> WriteOutcome:
    if not _condition_holds(condition, current):
        return WriteOutcome(new_item=current, old_item=current, condition_failed=True, changed=False)
    return WriteOutcome(
        new_item=item, old_item=current, condition_failed=False, changed=not items_equal(item, current)
    )


def apply_delete(condition: ConditionSource | None, current: Item | None) -> WriteOutcome:
    if not _condition_holds(condition, current):
        return WriteOutcome(new_item=current, old_item=current, condition_failed=True, changed=False)
    return WriteOutcome(new_item=None, old_item=current, condition_failed=False, changed=current is not None)


def apply_update(
    update: UpdateSource | None,
    condition: ConditionSource | None,
    current: Item | None,
    key: Item,
    current_size: int | None = None,
) -> WriteOutcome:
    """UpdateItem: the condition sees the current item; an absent item is created from its key.
    `current_size`, when known, spares sizing the attributes the update leaves alone."""
    if not _condition_holds(condition, current):
        return WriteOutcome(new_item=current, old_item=current, condition_failed=True, changed=False)
    parsed = update.parse() if update is not None else None
    new_size = None
    if parsed is None:
        new_item: Item | None = current if current is not None else dict(key)
    elif current is None and only_removes(parsed):
        # DynamoDB creates no item for an update that only takes attributes away (checked
        # against DynamoDB by ScyllaDB's Alternator tests); an empty update does create one.
        new_item = None
    else:
        new_item, new_size = apply_update_sized(parsed, current, key, current_size)
    return WriteOutcome(
        new_item=new_item,
        old_item=current,
        condition_failed=False,
        changed=not items_equal(new_item, current),
        new_size=new_size,
    )


def update_return_attributes(
    return_values: str, update: UpdateSource | None, old_item: Item | None, new_item: Item | None
) -> Item | None:
    """What UpdateItem answers in Attributes for each ReturnValues; None: no Attributes member."""
    if return_values == "ALL_OLD":
        return old_item or None
    if return_values == "ALL_NEW":
        return new_item or None
    if return_values not in ("UPDATED_OLD", "UPDATED_NEW"):
        return None
    source = old_item if return_values == "UPDATED_OLD" else new_item
    if source is None or update is None:
        return None
    return project(source, update.parse().paths) or None
