"""Register workload generator: reads, unique writes and compare-and-set over a few keys.

Pure planning (randomness passed in); the requests themselves live in `dynamodb_operations`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from loadgen.operations import PlannedOperation, UniqueValues

KEY_PREFIX = "r"


@dataclass(frozen=True)
class RegisterWeights:
    read: float = 1.0
    write: float = 1.0
    cas: float = 1.0

    def __post_init__(self) -> None:
        weights = (self.read, self.write, self.cas)
        if any(weight < 0 for weight in weights) or sum(weights) <= 0:
            raise ValueError(f"weights must be >= 0 with a positive sum, got {weights}")


def register_key(number: int) -> str:
    return f"{KEY_PREFIX}{number}"


class RegisterWorkload:
    """Plans operations; remembers the last value seen per key so cas has a plausible `expected`."""

    def __init__(self, keys: int, weights: RegisterWeights, values: UniqueValues, rng: random.Random) -> None:
        if keys < 1:
            raise ValueError(f"keys must be >= 1, got {keys}")
        self._keys = [register_key(number) for number in range(keys)]
        self._weights = weights
        self._values = values
        self._rng = rng
        self._recent_value_by_key: dict[str, int] = {}

    def plan(self) -> PlannedOperation:
        key = self._rng.choice(self._keys)
        weights = self._weights
        function = self._rng.choices(("read", "write", "cas"), (weights.read, weights.write, weights.cas))[0]
        if function == "cas":
            expected = self._recent_value_by_key.get(key)
            if expected is None:
                # Nothing known about this key yet: a cas on null could never succeed; learn first.
                return PlannedOperation("read", key, None)
            return PlannedOperation("cas", key, [expected, self._values.next()])
        if function == "write":
            return PlannedOperation("write", key, self._values.next())
        return PlannedOperation("read", key, None)

    def observe(self, operation: PlannedOperation, outcome: str, value: Any) -> None:
        """Learn from an `ok` completion (others say nothing certain about the register)."""
        if outcome != "ok" or operation.key is None:
            return
        if (operation.function == "read" and value is not None) or operation.function == "write":
            self._recent_value_by_key[operation.key] = value
        elif operation.function == "cas":
            self._recent_value_by_key[operation.key] = value[1]
