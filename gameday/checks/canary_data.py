"""Data alarms as a verdict: a consistent canary read (same endpoint or cross-endpoint) that missed an
acknowledged write (canaries/data_alarms.py judges the records)."""

from __future__ import annotations

from canaries.data_alarms import evaluate_data_alarms
from gameday.checks.base import Check, CheckOutcome
from gameday.run_record import RunRecord
from gameday.run_verdict import VerifierResult

NAME = "canary-data"


class CanaryDataCheck(Check):
    name = NAME

    def judge(self, record: RunRecord) -> CheckOutcome | None:
        records = record.canary_records()
        if not records:
            return CheckOutcome(VerifierResult(NAME, "unknown", "the canaries recorded nothing"))
        report = evaluate_data_alarms(records)
        return CheckOutcome(VerifierResult(NAME, report.validity(), report.describe(), report.to_json()))
