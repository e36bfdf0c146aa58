"""The one shape every game-day check has, so the orchestration loops over checks instead of
branching per lesson (gameday/checks/registry.py lists them, in the order their results appear).

A check's life in a run:

1. ``wanted(scenario)``: whether this scenario asks for it at all (the hot-key lesson's admission
   check only for the hot-key workload, the cache-flush lesson's only when flushes are planned).
2. ``at_cluster_up(cluster, record)``: start whatever must watch the live run; return it (anything
   with ``stop()``) and the orchestration stops it with load and canaries, whatever happens.
3. ``before_cluster_down(cluster, record)`` and ``after_cluster_down(cluster, record)``: read what only
   the cluster can tell (its status, its own records, the files the backend keeps); the returned value
   is kept in ``record.observations[check.name]``. The orchestration skips ``before_cluster_down`` when
   the run is cut short, and ``after_cluster_down`` for a partial run when the check needs a whole one.
4. ``judge(record)``: the verdict, from the record, its observations and the run directory's files
   only (the prometheus check also queries the run's own Prometheus, up until the run returns); None when the check does not apply after all (no baseline shipped for this scenario, no
   observation because the run stopped early). ``CheckOutcome.section`` goes into summary.json under
   ``summary_key``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from gameday.run_record import RunRecord
from gameday.run_verdict import VerifierResult
from gameday.scenario import Scenario


class Stoppable(Protocol):
    def stop(self) -> None: ...


@dataclass(frozen=True)
class CheckOutcome:
    result: VerifierResult
    section: Any = None  # summary.json's `summary_key` section; None: the check adds none this run


class Check:
    """The base every check extends; the hooks do nothing unless a check needs them."""

    name: str = ""  # the verifier's name in summary.json, junit.xml and the self-test's caught_by
    summary_key: str | None = None
    # A partial run (interrupted, infrastructure error) skips it: its evidence would be incomplete.
    needs_complete_run: bool = False

    def wanted(self, scenario: Scenario) -> bool:
        return True

    def at_cluster_up(self, cluster: Any, record: RunRecord) -> Stoppable | None:
        return None

    def before_cluster_down(self, cluster: Any, record: RunRecord) -> Any:
        return None

    def after_cluster_down(self, cluster: Any, record: RunRecord) -> Any:
        return None

    def announcement(self, record: RunRecord) -> str:
        """What the terminal says before a slow judgement ("" for none)."""
        return ""

    def judge(self, record: RunRecord) -> CheckOutcome | None:
        raise NotImplementedError

    def applies_to(self, record: RunRecord) -> bool:
        """Whether the run's end may judge it: a partial run skips the checks that need a whole one."""
        return not (self.needs_complete_run and record.partial)
