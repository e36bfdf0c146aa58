"""Every check a game day can run, in the order their results appear in summary.json and junit.xml.

A new lesson adds its check here; the orchestration (gameday/game_day.py) only loops over this list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from gameday.checks.admission import AdmissionCheck
from gameday.checks.alarms import AlarmsCheck
from gameday.checks.availability_regression import AvailabilityRegressionCheck
from gameday.checks.base import Check
from gameday.checks.canary_data import CanaryDataCheck
from gameday.checks.cluster_health import ClusterHealthCheck
from gameday.checks.history import HistoryModelCheck, UserHistoryCheck
from gameday.checks.log_replicas import LogReplicasCheck
from gameday.checks.metadata_load import MetadataLoadCheck
from gameday.checks.prometheus import PrometheusCheck
from gameday.checks.regression import RegressionCheck
from gameday.checks.resources import ResourcesCheck
from gameday.checks.scrub import ScrubCheck
from gameday.checks.steady_state import SteadyStateCheck
from gameday.checks.store_errors import StoreErrorsCheck
from gameday.run_record import HISTORY_FILES, RunRecord
from gameday.run_verdict import VerifierResult
from gameday.scenario import Scenario

ALL_CHECKS: tuple[Check, ...] = (
    HistoryModelCheck("linearizability", "register", HISTORY_FILES["register"]),
    HistoryModelCheck("sets", "set", HISTORY_FILES["set"]),
    HistoryModelCheck("bank", "bank", HISTORY_FILES["bank"]),
    HistoryModelCheck("list-append", "list-append", HISTORY_FILES["list-append"]),
    HistoryModelCheck("index", "index", HISTORY_FILES["index"]),
    AlarmsCheck(),
    ClusterHealthCheck(),
    LogReplicasCheck(),
    CanaryDataCheck(),
    AvailabilityRegressionCheck(),
    ScrubCheck(),
    StoreErrorsCheck(),
    ResourcesCheck(),
    MetadataLoadCheck(),
    AdmissionCheck(),
    PrometheusCheck(),
    SteadyStateCheck(),
    RegressionCheck(),
)


USER_HISTORY_CHECK = UserHistoryCheck(HISTORY_FILES["user"])


def checks_for(scenario: Scenario, user_load: bool = False) -> list[Check]:
    """`user_load`: the run has the user's own locustfile, whose recorded history is judged too."""
    wanted = [check for check in ALL_CHECKS if check.wanted(scenario)]
    if not user_load:
        return wanted
    after_histories = sum(isinstance(check, HistoryModelCheck) for check in wanted)  # they come first
    return wanted[:after_histories] + [USER_HISTORY_CHECK] + wanted[after_histories:]


def observe_before_down(checks: Sequence[Check], cluster: Any, record: RunRecord) -> None:
    """The end state, as only the live cluster can tell it (health, log replicas, admission...)."""
    for check in checks:
        _keep(record, check, check.before_cluster_down(cluster, record))


def observe_after_down(checks: Sequence[Check], cluster: Any, record: RunRecord) -> None:
    """What the stopped cluster left behind (logs, scrub findings), for the checks this run will judge."""
    for check in checks:
        if check.applies_to(record):
            _keep(record, check, check.after_cluster_down(cluster, record))


def _keep(record: RunRecord, check: Check, observation: Any) -> None:
    if observation is not None:
        record.observations[check.name] = observation


def judge_checks(checks: Sequence[Check], record: RunRecord, say: Callable[[str], None]) -> list[VerifierResult]:
    """Each check's verdict, in the order given; a check's summary section is on the record before the next
    one judges (the regression check compares the alarms' measurements). A partial run skips the checks
    that need a whole one."""
    results: list[VerifierResult] = []
    for check in checks:
        if not check.applies_to(record):
            continue
        announcement = check.announcement(record)
        if announcement:
            say(announcement)
        outcome = check.judge(record)
        if outcome is None:
            continue
        results.append(outcome.result)
        if check.summary_key is not None and outcome.section is not None:
            record.sections[check.summary_key] = outcome.section
    return results
