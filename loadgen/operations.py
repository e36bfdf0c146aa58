"""What a load process asks the store to do next: one planned operation of the history vocabulary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WORKLOADS = ("register", "set", "hot-key", "bank", "list-append", "index")  # what a load process can run
VALUES_PER_BLOCK = 1_000_000_000_000  # one block of unique values per load process (worker)


@dataclass(frozen=True)
class PlannedOperation:
    function: str  # read | write | cas | incr | add | read-set (DESIGN §4)
    key: str | None
    value: Any  # the invoke's value: None for reads, [expected, new] for cas, the increment (1) for incr


class UniqueValues:
    """Integers never used by any other load process: block `block_index` of the number line.

    Unique written values let the linearizability checker tell every write apart.
    """

    def __init__(self, block_index: int) -> None:
        if block_index < 0:
            raise ValueError(f"block_index must be >= 0, got {block_index}")
        self._next_value = block_index * VALUES_PER_BLOCK + 1
        self._end_value = (block_index + 1) * VALUES_PER_BLOCK

    def next(self) -> int:
        value = self._next_value
        if value >= self._end_value:
            raise OverflowError("this load process used up its block of unique values")
        self._next_value = value + 1
        return value


def check_weights(*weights: float) -> None:
    """A workload's operation weights: none negative, some positive."""
    if any(weight < 0 for weight in weights) or sum(weights) <= 0:
        raise ValueError(f"weights must be >= 0 with a positive sum, got {', '.join(map(str, weights))}")
