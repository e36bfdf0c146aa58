"""A short real game day with counters (UpdateItem ADD) in the register workload, the set's final read by
Query, and a user's own locustfile beside them (`--locustfile examples/locust_orders.py`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.gameday.test_gameday_run import _gameday, _processes_mentioning

pytestmark = pytest.mark.cluster

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "locust_orders.py"

COUNTERS_SCENARIO = """
name = "counters"
description = "Counters, the set's Query read and a user locustfile through a leader kill, for the test suite."
warmup_s = 3
recovery_s = 5
final_reads = true

[workload]
model = "both"
keys = 3
clients = 3
rate_per_client_s = 20
read_weight = 2
write_weight = 1
cas_weight = 1
incr_weight = 2

[faults]
duration_s = 8
interval_s = 4
fault_duration_s = [2, 3]

[faults.mix]
kill-leader = 1

[thresholds]
availability_outside_faults = 0.9
availability_inside_faults = 0.5
latency_p99_ms = 3000
window_s = 5
regression_tolerance = 0.5
"""


def test_counters_the_set_query_and_a_user_locustfile_are_judged_valid_on_the_healthy_store(tmp_path: Path) -> None:
    scenario = tmp_path / "counters.toml"
    scenario.write_text(COUNTERS_SCENARIO)
    run_dir = tmp_path / "run"
    process = _gameday(
        "run", str(scenario), "--seed", "5", "--out", str(run_dir), "--locustfile", str(EXAMPLE), "--locust-users", "2",
        cwd=tmp_path,
    )  # fmt: skip
    try:
        output, _ = process.communicate(timeout=240)
    finally:
        process.kill()
    assert process.returncode == 0, output
    summary = json.loads((run_dir / "summary.json").read_text())
    verdicts = {verifier["name"]: verifier for verifier in summary["verifiers"]}
    assert verdicts["linearizability"]["valid"] is True and verdicts["sets"]["valid"] is True
    assert verdicts["user-linearizability"]["valid"] is True
    # The register workload's counters were incremented, read back and judged by the counter model.
    assert summary["load"]["register"]["counts"]["incr"]["ok"] > 0
    keys = verdicts["linearizability"]["data"]["verdict"]["keys"]
    assert {name for name, entry in keys.items() if entry.get("model") == "counter"} == {"c0", "c1", "c2"}
    # The set's final read (a Query per item collection) saw every acknowledged add.
    set_key = verdicts["sets"]["data"]["verdict"]["keys"]["set"]
    assert set_key["read_count"] == 1 and set_key["lost_count"] == 0 and set_key["ok_add_count"] > 0
    # The user's file: its requests in Locust's statistics, its recorded counts judged as counters.
    assert summary["user_load"] == {"locustfile": str(EXAMPLE), "users": 2}
    requests = summary["load"]["user"]["requests"]
    assert requests["count order"]["requests"] > 0 and requests["list orders"]["requests"] > 0
    user_keys = verdicts["user-linearizability"]["data"]["verdict"]["keys"]
    assert user_keys and all(entry["model"] == "counter" for entry in user_keys.values())
    assert "locust-requests" in (run_dir / "report.html").read_text()
    assert _processes_mentioning(str(run_dir)) == []
