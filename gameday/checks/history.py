"""Judges a history file with the register or set checker: the I/O edge shared by `gameday check`
and `gameday run` (it reads the file and the clock; the checkers in verify/ stay pure), and the two
game-day checks built on it, linearizability (register histories) and sets."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gameday.checks.base import Check, CheckOutcome
from gameday.run_record import RunRecord
from gameday.run_verdict import VerifierResult
from gameday.scenario import COMBINED_MODELS, Scenario
from verify.bank_checker import BANK_SETUP, check_bank
from verify.history import STORE_PROCESS, read_history
from verify.index_checker import check_index
from verify.linearizability import SearchBudget
from verify.list_append_checker import check_list_append
from verify.operations import operations_by_key, pair_operations
from verify.register_checker import check_register_keys
from verify.set_checker import check_sets
from verify.timeline import describe_witness, render_html_report, render_text_timeline, window_around_witness
from verify.verdict import (
    bank_verdict,
    index_verdict,
    key_name,
    list_append_verdict,
    register_verdict,
    set_verdict,
)

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
    if model == "bank":
        operations = list(operations)  # the workload's setup event comes with the operations
        setups = [dict(event.value) for event in nemesis_events if event.function == BANK_SETUP and isinstance(event.value, tuple)]
        declared = setups[-1].get("total") if setups else None
        bank = check_bank(operations, declared if isinstance(declared, int) else None)
        check = HistoryCheck(counted(bank_verdict(bank, len(nemesis_events))))
        check.explanations.extend(f"{kind}: {text}" for kind, found in bank.anomalies.items() for text in found[:3])
        return check
    if model == "index":
        index = check_index(operations)
        check = HistoryCheck(counted(index_verdict(index, len(nemesis_events))))
        median, worst, converged = index.lag_median_s, index.lag_max_s, index.converged_after_s
        check.explanations.append(
            f"index lag over {len(index.lag_samples)} timed writes: median "
            f"{'n/a' if median is None else f'{median * 1000:.0f} ms'}, max {'n/a' if worst is None else f'{worst:.2f} s'};"
            f" final read: {'never equal to the table' if converged is None else f'equal to the table after {converged:.2f} s'}"
        )
        check.explanations.extend(f"{kind}: {text}" for kind, found in index.anomalies.items() for text in found[:3])
        return check
    if model == "list-append":
        result = check_list_append(list(operations))
        check = HistoryCheck(counted(list_append_verdict(result, len(nemesis_events))))
        for kind, found in result.anomalies.items():
            for anomaly in found[:3]:
                shown = "\n".join(f"  {result.describe(number)}" for number in anomaly.transactions[:6])
                check.explanations.append(f"{kind}: {anomaly.explanation}\n{shown}\n")
        return check
    groups = operations_by_key(operations)  # reads the whole file: errors surface before any search
    budget = SearchBudget(max_states, started_s + time_limit_s, time.monotonic)

    def make_witness_budget() -> SearchBudget:
        return SearchBudget(WITNESS_MAX_STATES, time.monotonic() + WITNESS_TIME_LIMIT_S, time.monotonic)

    results = check_register_keys(groups, budget, make_witness_budget)
    check = HistoryCheck(counted(register_verdict(results, len(nemesis_events))))
    for key, result in results.items():
        counter = result.counter
        if counter is not None and counter.validity is False:
            culprits = "\n".join(f"  {operation.describe()} (line {operation.invoke_line_number})" for operation in counter.culprits)
            check.explanations.append(f"key {key_name(key)} (counter): {counter.explanation}\n{culprits}\n")
        if result.witness is None:
            continue
        shown = window_around_witness(result.operations, result.witness)
        check.explanations.append(
            f"key {key_name(key)}: {describe_witness(result.witness)}\n"
            f"{render_text_timeline(shown, result.witness)}\n"
        )
        check.pages[key_name(key)] = render_html_report(key_name(key), shown, result.witness)
    return check


def history_models(scenario: Scenario) -> list[str]:
    """The histories a scenario's workload records, each judged by its own check."""
    return list(COMBINED_MODELS.get(scenario.workload.model, (scenario.workload.history_model,)))


class HistoryModelCheck(Check):
    """One recorded history (RUN_DIR/`file_name`, each load's own with the nemesis events merged in),
    judged as `model`."""

    def __init__(self, name: str, model: str, file_name: str, load: str | None = None) -> None:
        self.name = name
        self.model = model
        self.file_name = file_name
        self.load = load or model  # the load whose history it judges

    def wanted(self, scenario: Scenario) -> bool:
        return self.model in history_models(scenario)

    def judge(self, record: RunRecord) -> CheckOutcome | None:
        load = record.load_results.get(self.load)
        if load is None:
            return CheckOutcome(VerifierResult(self.name, "unknown", f"the {self.load} load produced no history"))
        return CheckOutcome(judge_history(self.name, self.model, record.run_dir / self.file_name, record.run_dir, load.counts))


def judge_history(
    name: str, model: str, history_path: Path, run_dir: Path, counts: dict[str, dict[str, int]]
) -> VerifierResult:
    """`counts`: the load's operations by f and outcome; witness timelines go to RUN_DIR/check/."""
    ok_operations = sum(outcomes.get("ok", 0) for outcomes in counts.values())
    if ok_operations == 0:
        return VerifierResult(name, "unknown", f"no {model} operation succeeded: nothing was tested")
    try:
        check = check_history_file(history_path, model, time_limit_s=DEFAULT_TIME_LIMIT_S)
    except Exception as error:  # a history the checker cannot read is a harness failure: unknown
        return VerifierResult(name, "unknown", f"cannot check {history_path.name}: {error}")
    verdict = check.verdict
    if check.pages:
        check_dir = run_dir / "check"
        check_dir.mkdir(exist_ok=True)
        for key, page in check.pages.items():
            (check_dir / f"timeline-{model}-{''.join(c if c.isalnum() else '_' for c in key)}.html").write_text(page)
    detail = f"{ok_operations} ok operations; verdict {verdict['valid']}"
    # The history may hold more than this load (the hot-key users' operations): say what was checked.
    checked = sum(entry.get("operation_count", 0) for entry in verdict.get("keys", {}).values())
    if checked:
        detail += f" ({checked} operations over {verdict['key_count']} keys checked)"
    if check.explanations:
        detail += "\n" + "\n".join(check.explanations)
    return VerifierResult(name, verdict["valid"], detail, {"verdict": verdict})


class UserHistoryCheck(HistoryModelCheck):
    """A user locustfile's recorded operations (`gameday run --locustfile`, loadgen/recorder.py), judged as
    registers and counters. Wanted only when the run has such a file; no verdict when it recorded nothing."""

    def __init__(self, file_name: str) -> None:
        super().__init__("user-linearizability", "register", file_name, load="user")

    def wanted(self, scenario: Scenario) -> bool:
        return False  # a run option, not the scenario's: checks_for adds it when --locustfile is given

    def judge(self, record: RunRecord) -> CheckOutcome | None:
        load = record.load_results.get(self.load)
        if load is not None and not load.counts:
            return None  # the file records nothing: its requests are only counted
        return super().judge(record)
