"""The canaries' own records against what Prometheus scraped from them, and the alerts it fired: two
sources that must agree about what customers saw (runs with ``--prometheus`` only)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from gameday.checks.base import Check, CheckOutcome
from gameday.prometheus_crosscheck import (
    PrometheusQueryError,
    crosscheck,
    firing_alerts,
    query_canary_samples,
)
from gameday.prometheus_run import RunPrometheus
from gameday.run_record import RunRecord
from gameday.run_verdict import VerifierResult

VERIFIER_NAME = "prometheus"


def prometheus_verdict(
    run: RunPrometheus, records: list[dict[str, Any]], canaries_started_wall_s: float, canaries_stopped_wall_s: float
) -> VerifierResult:
    """The canaries' files against Prometheus' scraped canary counters, plus the alerts it fired while the
    canaries ran (once they stop, CanaryDown rightly fires: that is the end of the run, not an alarm)."""
    try:
        samples = query_canary_samples(run.server.url, canaries_started_wall_s, time.time())
        alerts = firing_alerts(run.server.url, run.started_wall_s, canaries_stopped_wall_s)
    except PrometheusQueryError as error:
        return VerifierResult(VERIFIER_NAME, "unknown", f"prometheus could not be queried: {error}")
    check = crosscheck(records, samples)
    detail = check.describe() + f"; {_describe_alerts(alerts)}"
    data = {
        "agrees": check.agrees,
        "samples_checked": check.samples_checked,
        "mismatches": [mismatch.describe() for mismatch in check.mismatches[:20]],
        "alerts_fired": alerts,
        **run.summary(),
    }
    # Two sources that disagree about what customers saw leave the alarm verdict undecided.
    return VerifierResult(VERIFIER_NAME, True if check.agrees else "unknown", detail, data)


def _describe_alerts(alerts: list[dict[str, str]]) -> str:
    """"alerts fired in prometheus: CanaryLatencyP99High (9 series), ..." or that none fired."""
    if not alerts:
        return "no alert fired in prometheus"
    counts = Counter(alert.get("alertname", "?") for alert in alerts)
    return "alerts fired in prometheus: " + ", ".join(f"{name} ({count} series)" for name, count in sorted(counts.items()))


class PrometheusCheck(Check):
    name = VERIFIER_NAME

    def announcement(self, record: RunRecord) -> str:
        return "cross-checking the canaries' records against prometheus..." if record.prometheus is not None else ""

    def judge(self, record: RunRecord) -> CheckOutcome | None:
        if record.prometheus is None:  # a run without --prometheus
            return None
        stopped_wall_s = record.canaries_stopped_wall_s or time.time()
        return CheckOutcome(
            prometheus_verdict(record.prometheus, record.canary_records(), record.canaries_started_wall_s, stopped_wall_s)
        )
