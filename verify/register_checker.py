"""Check every key of a register history on its own (P-compositionality) and explain invalid keys.

A key something increments (`incr`) is a counter, judged by `verify.counter_checker`; the others are
registers."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from verify.counter_checker import CounterResult, check_counter, is_counter_history
from verify.linearizability import SearchBudget, SearchResult, check_register
from verify.operations import Operation
from verify.witness import Witness, find_witness


@dataclass(frozen=True)
class RegisterKeyResult:
    key: Hashable | None
    search: SearchResult
    operations: Sequence[Operation]
    witness: Witness | None = None
    counter: CounterResult | None = None  # a counter key's own verdict and explanation


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
        if is_counter_history(operations):
            counter = check_counter(operations)
            reason = counter.explanation if counter.validity == "unknown" else None
            search = SearchResult(counter.validity, 0, reason, method="counter")
            results[key] = RegisterKeyResult(key, search, operations, counter=counter)
            continue  # the explanation names the operations: no witness search for a counter
        search = check_register(operations, budget)
        results[key] = RegisterKeyResult(key, search, operations)
        if search.validity is False:
            invalid_keys.append(key)
    for key in invalid_keys[:max_witnesses]:
        result = results[key]
        witness = find_witness(result.operations, make_witness_budget() if make_witness_budget else budget)
        results[key] = RegisterKeyResult(key, result.search, result.operations, witness)
    return results
