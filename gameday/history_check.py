"""Judges a history file with the register or set checker: the I/O edge shared by `gameday check`
and `gameday run` (it reads the file and the clock; the checkers in verify/ stay pure)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verify.history import STORE_PROCESS, read_history
from verify.linearizability import SearchBudget
from verify.operations import operations_by_key, pair_operations
from verify.register_checker import check_register_keys
from verify.set_checker import check_sets
from verify.timeline import describe_witness, render_html_report, render_text_timeline, window_around_witness
from verify.verdict import key_name, register_verdict, set_verdict

DEFAULT_TIME_LIMIT_S = 60.0
DEFAULT_MAX_STATES = 2_000_000
# Shrinking a witness gets its own time, so a search that used the whole limit still explains itself.
WITNESS_TIME_LIMIT_S = 10.0
WITNESS_MAX_STATES = 200_000


@dataclass
class HistoryCheck:
    verdict: dict[str, Any]
    explanations: list[str] = field(default_factory=list)  # text witnesses for the terminal
    pages: dict[str, str] = field(default_factory=dict)  # key name -> HTML timeline of its witness


def check_history_file(
    path: Path | str,
    model: str,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    max_states: int = DEFAULT_MAX_STATES,
) -> HistoryCheck:
    """Raises HistoryError (bad file), ModelMismatchError / SetModelMismatchError (wrong model), OSError."""
    started_s = time.monotonic()
    nemesis_events: list[Any] = []
    operations = pair_operations(read_history(path), nemesis_events)

    def counted(verdict: dict[str, Any]) -> dict[str, Any]:
        # pair_operations hands over every system event: faults (nemesis), the store's and the workload's own.
        return verdict | {
            "nemesis_event_count": sum(1 for event in nemesis_events if event.is_nemesis),
            "store_event_count": sum(1 for event in nemesis_events if event.process == STORE_PROCESS),
        }

    if model == "set":
        return HistoryCheck(counted(set_verdict(check_sets(operations), len(nemesis_events))))
    groups = operations_by_key(operations)  # reads the whole file: errors surface before any search
    budget = SearchBudget(max_states, started_s + time_limit_s, time.monotonic)

    def make_witness_budget() -> SearchBudget:
        return SearchBudget(WITNESS_MAX_STATES, time.monotonic() + WITNESS_TIME_LIMIT_S, time.monotonic)

    results = check_register_keys(groups, budget, make_witness_budget)
    check = HistoryCheck(counted(register_verdict(results, len(nemesis_events))))
    for key, result in results.items():
        if result.witness is None:
            continue
        shown = window_around_witness(result.operations, result.witness)
        check.explanations.append(
            f"key {key_name(key)}: {describe_witness(result.witness)}\n"
            f"{render_text_timeline(shown, result.witness)}\n"
        )
        check.pages[key_name(key)] = render_html_report(key_name(key), shown, result.witness)
    return check
