"""A scenario's stop condition as a verdict: a run the steady-state probe aborted (customers lost the
service for longer than the scenario allows) fails; the probe itself is gameday/steady_state.py."""

from __future__ import annotations

from gameday.checks.base import Check, CheckOutcome
from gameday.run_record import RunRecord
from gameday.run_verdict import VerifierResult
from gameday.scenario import Scenario

NAME = "steady-state"


class SteadyStateCheck(Check):
    name = NAME

    def wanted(self, scenario: Scenario) -> bool:
        return scenario.abort is not None

    def judge(self, record: RunRecord) -> CheckOutcome | None:
        abort = record.scenario.abort
        assert abort is not None
        outcome = record.chaos
        if outcome is not None and outcome.reason == "aborted":
            return CheckOutcome(VerifierResult(NAME, False, f"the run was aborted: {outcome.detail}"))
        floor = abort.canary_availability_below
        detail = f"canary availability never stayed below {floor:.1%} for {abort.for_s:g} s"
        return CheckOutcome(VerifierResult(NAME, True, detail))
