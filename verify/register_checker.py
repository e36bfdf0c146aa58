"""Check every key of a register history on its own (P-compositionality) and explain invalid keys."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from verify.linearizability import SearchBudget, SearchResult, check_register
from verify.operations import Operation
from verify.witness import Witness, find_witness


@dataclass(frozen=True)
class RegisterKeyResult:
    key: Hashable | None
    search: SearchResult
    operations: Sequence[Operation]
    witness: Witness | None = None


def check_register_keys(
    groups: dict[Hashable | None, list[Operation]],
    budget: SearchBudget,
    make_witness_budget: Callable[[], SearchBudget] | None = None,
    max_witnesses: int = 10,
) -> dict[Hashable | None, RegisterKeyResult]:
    """`budget` bounds each key's search (its deadline is shared by all keys).

    Witnesses are shrunk for at most `max_witnesses` invalid keys, each under a fresh budget from
    `make_witness_budget` (a deadline set after the search, not eaten by it), so a history that is
    broken everywhere still gets a prompt verdict.
    """
    results: dict[Hashable | None, RegisterKeyResult] = {}
    invalid_keys: list[Hashable | None] = []
    for key, operations in groups.items():
        search = check_register(operations, budget)
        results[key] = RegisterKeyResult(key, search, operations)
        if search.validity is False:
            invalid_keys.append(key)
    for key in invalid_keys[:max_witnesses]:
        result = results[key]
        witness = find_witness(result.operations, make_witness_budget() if make_witness_budget else budget)
        results[key] = RegisterKeyResult(key, result.search, result.operations, witness)
    return results
