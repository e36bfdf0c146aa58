"""The effect of a write on one item, decided identically by every replica.

A replica applies a committed PutItem/DeleteItem by calling these with the item it holds;
since they are pure functions of their arguments, replicas that agree on the log agree on
the outcome, including whether the condition failed.
"""

from __future__ import annotations

from dataclasses import dataclass

from cluster.api.attribute_values import Item
from cluster.api.expressions import values_equal
from cluster.api.requests import ConditionSource


@dataclass(frozen=True)
class WriteOutcome:
    """new_item is the item stored after the write (None: absent). When the condition
    failed nothing changes, so new_item is the current item and old_item is it too."""

    new_item: Item | None
    old_item: Item | None
    condition_failed: bool
    changed: bool


def items_equal(left: Item | None, right: Item | None) -> bool:
    """Equal as DynamoDB sees them (set order and number spelling do not matter)."""
    if left is None or right is None:
        return left is right
    return left.keys() == right.keys() and all(
        values_equal(value, right[name]) for name, value in left.items()
    )


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
