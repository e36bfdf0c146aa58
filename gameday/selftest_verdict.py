"""The self-test's verdict: each game day classified, each bug's detection rate, one exit code.

Pure: run records in, outcomes and an exit code out (no clock, no files).

A bug run is *caught* when one of the case's `caught_by` verifiers failed; *other* when the run failed
only on other verifiers (an alarm firing on a data bug is not evidence of the data verifier working);
*escaped* when it passed although a `caught_by` verifier ran; *not-judged* when it passed and none of
them ran (e.g. no availability baseline for the scenario); *unknown* when the game day could not decide
(exit 2); *skipped* when this build lacks what the case needs. A control run of the unmodified store
*passed* (exit 0), raised a *false-alarm* (exit 1), or is *unknown*.

Exit code: 1 when a bug's detection rate (caught / judged runs, judged = caught, other or escaped) is
below the minimum or any control raised a false alarm; otherwise 2 when anything could not be decided
(a skipped bug, a bug with no judged run, an unknown, not-judged or interrupted run); otherwise 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_UNDECIDED = 2

CAUGHT, OTHER, ESCAPED, NOT_JUDGED, UNKNOWN, SKIPPED = "caught", "other", "escaped", "not-judged", "unknown", "skipped"
PASSED, FALSE_ALARM = "passed", "false-alarm"
_JUDGED = (CAUGHT, OTHER, ESCAPED)


@dataclass(frozen=True)
class RunRecord:
    """One game day of the self-test, as its summary told it (bug None: a control run)."""

    bug: str | None
    scenario: str
    seed: int
    exit_code: int | None  # None: not run (skipped)
    failed_verifiers: tuple[str, ...] = ()
    verifiers_run: tuple[str, ...] = ()
    run_dir: str = ""
    skip_reason: str = ""
    errors: tuple[str, ...] = ()
    duration_s: float = 0.0


def classify(run: RunRecord, caught_by: Iterable[str] = ()) -> str:
    if run.skip_reason or run.exit_code is None:
        return SKIPPED
    if run.bug is None:
        return {0: PASSED, 1: FALSE_ALARM}.get(run.exit_code, UNKNOWN)
    expected = set(caught_by)
    if expected & set(run.failed_verifiers):
        return CAUGHT
    if run.exit_code == 1:
        return OTHER
    if run.exit_code == 0:
        return ESCAPED if expected & set(run.verifiers_run) else NOT_JUDGED
    return UNKNOWN


@dataclass(frozen=True)
class ClassifiedRun:
    run: RunRecord
    outcome: str
    # The verifiers that caught the bug (bug runs) or failed the control (control runs).
    caught_by: tuple[str, ...]


@dataclass(frozen=True)
class BugVerdict:
    bug: str
    scenario: str
    expected: tuple[str, ...]
    runs: tuple[ClassifiedRun, ...]
    skip_reason: str = ""
    note: str = ""

    @property
    def caught(self) -> int:
        return sum(run.outcome == CAUGHT for run in self.runs)

    @property
    def judged(self) -> int:
        return sum(run.outcome in _JUDGED for run in self.runs)

    @property
    def detection(self) -> float | None:
        return self.caught / self.judged if self.judged else None


@dataclass(frozen=True)
class SelfTestVerdict:
    bugs: tuple[BugVerdict, ...]
    controls: tuple[ClassifiedRun, ...]
    min_detection: float
    exit_code: int
    reasons: tuple[str, ...] = field(default=())


def judge(
    runs: Sequence[RunRecord],
    expected_by_bug: Mapping[str, Sequence[str]],
    min_detection: float,
    *,
    notes: Mapping[str, str] | None = None,
    interrupted: bool = False,
) -> SelfTestVerdict:
    """Groups the runs per bug (in first-seen order) and per control, and decides the exit code."""
    if not 0.0 <= min_detection <= 1.0:
        raise ValueError(f"min_detection must be within 0..1, got {min_detection}")
    notes = notes or {}
    by_bug: dict[str, list[ClassifiedRun]] = {}
    scenario_of: dict[str, str] = {}
    skip_of: dict[str, str] = {}
    controls: list[ClassifiedRun] = []
    for run in runs:
        if run.bug is None:
            outcome = classify(run)
            controls.append(ClassifiedRun(run, outcome, run.failed_verifiers if outcome == FALSE_ALARM else ()))
            continue
        expected = tuple(expected_by_bug.get(run.bug, ()))
        scenario_of.setdefault(run.bug, run.scenario)
        if run.skip_reason:
            skip_of.setdefault(run.bug, run.skip_reason)
            by_bug.setdefault(run.bug, [])
            continue
        outcome = classify(run, expected)
        caught_by = tuple(name for name in run.failed_verifiers if name in expected) if outcome == CAUGHT else ()
        if outcome == OTHER:
            caught_by = run.failed_verifiers
        by_bug.setdefault(run.bug, []).append(ClassifiedRun(run, outcome, caught_by))
    bugs = tuple(
        BugVerdict(
            bug, scenario_of[bug], tuple(expected_by_bug.get(bug, ())), tuple(classified), skip_of.get(bug, ""),
            notes.get(bug, ""),
        )
        for bug, classified in by_bug.items()
    )  # fmt: skip
    code, reasons = _exit_code(bugs, controls, min_detection, interrupted)
    return SelfTestVerdict(bugs, tuple(controls), min_detection, code, tuple(reasons))


def _exit_code(
    bugs: Sequence[BugVerdict], controls: Sequence[ClassifiedRun], min_detection: float, interrupted: bool
) -> tuple[int, list[str]]:
    failures: list[str] = []
    undecided: list[str] = ["interrupted: the self-test is partial"] if interrupted else []
    for bug in bugs:
        if bug.skip_reason:
            undecided.append(f"{bug.bug} skipped: {bug.skip_reason}")
            continue
        detection = bug.detection
        if detection is None:
            undecided.append(f"{bug.bug}: no run could be judged")
        elif detection < min_detection:
            failures.append(f"{bug.bug} caught in {bug.caught} of {bug.judged} runs (minimum {min_detection:.0%})")
        unclear = [run for run in bug.runs if run.outcome not in _JUDGED]
        if unclear and detection is not None:
            undecided.append(f"{bug.bug}: {len(unclear)} run(s) {', '.join(sorted({run.outcome for run in unclear}))}")
    false_alarms = [run for run in controls if run.outcome == FALSE_ALARM]
    if false_alarms:
        failures.append(
            f"{len(false_alarms)} false alarm(s) in {len(controls)} control run(s): "
            + "; ".join(f"{run.run.scenario} seed {run.run.seed} ({', '.join(run.caught_by)})" for run in false_alarms)
        )
    unknown_controls = [run for run in controls if run.outcome == UNKNOWN]
    if unknown_controls:
        undecided.append(f"{len(unknown_controls)} control run(s) could not decide")
    if failures:
        return EXIT_FAILED, failures + undecided
    if undecided:
        return EXIT_UNDECIDED, undecided
    if not bugs:
        return EXIT_UNDECIDED, ["no planted bug was run"]
    if min_detection < 1.0:
        return EXIT_PASSED, [f"every bug caught in at least {min_detection:.0%} of its runs, no false alarm"]
    return EXIT_PASSED, ["every bug caught in every run, no false alarm"]
