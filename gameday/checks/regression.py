"""`gameday run --baseline FILE`: the run's canary availability and latency per AZ pair against a
baseline run's (gameday/baseline.py compares), within the scenario's regression tolerance."""

from __future__ import annotations

from gameday.baseline import BaselineError, compare
from gameday.checks.base import Check, CheckOutcome
from gameday.run_record import RunRecord
from gameday.run_verdict import VerifierResult

NAME = "regression"


class RegressionCheck(Check):
    name = NAME

    def judge(self, record: RunRecord) -> CheckOutcome | None:
        baseline = record.baseline
        if baseline is None:  # no --baseline
            return None
        tolerance = record.scenario.thresholds.regression_tolerance
        try:
            # The summary so far: the alarms check, judged before this one, has added the measurements.
            regressions = compare(baseline, record.to_summary(), tolerance)
        except BaselineError as error:
            return CheckOutcome(VerifierResult(NAME, "unknown", str(error)))
        if regressions:
            details = "; ".join(regression.describe() for regression in regressions)
            return CheckOutcome(VerifierResult(NAME, False, f"{len(regressions)} regression(s): {details}"))
        detail = f"no regression beyond {tolerance:.0%} against baseline seed {baseline.get('seed')}"
        return CheckOutcome(VerifierResult(NAME, True, detail))
