"""Register workload generator: reads, unique writes and compare-and-set over a few keys, and, with an
`incr` weight, counters: `incr` (UpdateItem ADD 1, returning the new count) on counter keys c0..cN-1,
which reads reach too (verify/counter_checker.py judges them).

Pure planning (randomness passed in); the requests themselves live in `dynamodb_operations`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from loadgen.operations import PlannedOperation, UniqueValues

KEY_PREFIX = "r"
COUNTER_KEY_PREFIX = "c"


@dataclass(frozen=True)
class RegisterWeights:
    read: float = 1.0
    write: float = 1.0
    cas: float = 1.0
    incr: float = 0.0  # 0: no counters (and no counter keys for reads to reach)

    def __post_init__(self) -> None:
        weights = (self.read, self.write, self.cas, self.incr)
        if any(weight < 0 for weight in weights) or sum(weights) <= 0:
            raise ValueError(f"weights must be >= 0 with a positive sum, got {weights}")


def register_key(number: int) -> str:
    return f"{KEY_PREFIX}{number}"


def counter_key(number: int) -> str:
    return f"{COUNTER_KEY_PREFIX}{number}"


class RegisterWorkload:
    """Plans operations; remembers the last value seen per key so cas has a plausible `expected`."""

    def __init__(self, keys: int, weights: RegisterWeights, values: UniqueValues, rng: random.Random) -> None:
        if keys < 1:
            raise ValueError(f"keys must be >= 1, got {keys}")
        self._keys = [register_key(number) for number in range(keys)]
        self._counter_keys = [counter_key(number) for number in range(keys)] if weights.incr > 0 else []
        self._weights = weights
        self._values = values
        self._rng = rng
        self._recent_value_by_key: dict[str, int] = {}

    def plan(self) -> PlannedOperation:
        weights = self._weights
        function = self._rng.choices(
            ("read", "write", "cas", "incr"), (weights.read, weights.write, weights.cas, weights.incr)
        )[0]
        if function == "incr":
            return PlannedOperation("incr", self._rng.choice(self._counter_keys), 1)
        if function == "read":
            # A counter is read back like a register: the count is its value.
            return PlannedOperation("read", self._rng.choice(self._keys + self._counter_keys), None)
        key = self._rng.choice(self._keys)
        if function == "cas":
            expected = self._recent_value_by_key.get(key)
            if expected is None:
                # Nothing known about this key yet: a cas on null could never succeed; learn first.
                return PlannedOperation("read", key, None)
            return PlannedOperation("cas", key, [expected, self._values.next()])
        return PlannedOperation("write", key, self._values.next())

    def observe(self, operation: PlannedOperation, outcome: str, value: Any) -> None:
        """Learn from an `ok` completion (others say nothing certain about the register)."""
        if outcome != "ok" or operation.key is None or operation.key in self._counter_keys:
            return  # a counter's count is no register value for cas to expect
        if (operation.function == "read" and value is not None) or operation.function == "write":
            self._recent_value_by_key[operation.key] = value
        elif operation.function == "cas":
            self._recent_value_by_key[operation.key] = value[1]
