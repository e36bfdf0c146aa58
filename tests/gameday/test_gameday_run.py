"""`gameday run` end to end on real processes: a short game day, Ctrl-C in the middle, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from tests.gameday.game_day_process import run_gameday
from tests.gameday.run_failures import failed_verifiers

pytestmark = pytest.mark.cluster

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "locust_orders.py"

TINY_SCENARIO = """
name = "tiny"
description = "A few seconds of each process fault, for the test suite."
warmup_s = 3
recovery_s = 5
final_reads = true

[cluster]
azs = 3
nodes_per_az = 2
partitions_per_table = 4

[workload]
model = "both"
keys = 4
clients = 3
rate_per_client_s = 20
read_weight = 2
write_weight = 2
cas_weight = 1
incr_weight = 1

[faults]
duration_s = 10
interval_s = 5
fault_duration_s = [2, 3]

[faults.mix]
power-off = 1
kill-leader = 1

[thresholds]
availability_outside_faults = 0.9
availability_inside_faults = 0.5
latency_p99_ms = 3000
window_s = 5
regression_tolerance = 0.5
"""


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _gameday(*arguments: str, cwd: Path) -> subprocess.Popen[str]:
    """The CLI started with SIGINT ignored, as a shell starts a background job (and as CI may start the
    suite): `gameday run` must stop cleanly on SIGINT all the same (a run once went on to a VALID end)."""
    return subprocess.Popen(
        [sys.executable, "-m", "gameday.cli", *arguments],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=_ignore_sigint,
    )  # fmt: skip


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_SCENARIO)
    return path


# Four faults, one of each kind (a schedule's first faults cover its mix): process faults, and network
# faults through the proxies on every link.
EVERY_KIND = (
    TINY_SCENARIO.replace("power-off = 1\nkill-leader = 1", "power-off = 1\nkill-leader = 1\npartition-node = 1\nlatency = 1")
    .replace("duration_s = 10\ninterval_s = 5\nfault_duration_s = [2, 3]", "duration_s = 12\ninterval_s = 3\nfault_duration_s = [1.5, 2.5]")
)  # fmt: skip


def test_a_short_game_day_is_valid_and_leaves_its_files_and_no_process(tmp_path: Path) -> None:
    """Also the suite's one run of counters (UpdateItem ADD), the set's final read by Query, a user's own
    locustfile beside our loads (`--locustfile examples/locust_orders.py`) and network faults through the
    proxies: one game day pays for all."""
    scenario = tmp_path / "every-kind.toml"
    scenario.write_text(EVERY_KIND)
    run_dir = tmp_path / "run"
    process = _gameday(
        "run", str(scenario), "--seed", "3", "--out", str(run_dir), "--locustfile", str(EXAMPLE),
        "--locust-users", "2", cwd=tmp_path,
    )  # fmt: skip
    try:
        output, _ = process.communicate(timeout=240)
    finally:
        process.kill()
    assert process.returncode == 0, output + "\n" + failed_verifiers(run_dir)
    assert "fault schedule" in output and "verdict: VALID (exit 0)" in output
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["verdict"]["valid"] is True and summary["seed"] == 3 and not summary["partial"]
    names = {verifier["name"]: verifier["valid"] for verifier in summary["verifiers"]}
    assert names == {
        "linearizability": True, "sets": True, "alarms": True, "cluster-healthy": True, "log-replicas": True,
        "scrub": True, "store-errors": True, "canary-data": True, "user-linearizability": True,
    }
    _assert_counters_set_query_and_user_load(summary, run_dir)
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    nemesis = [event["f"] for event in history if event["process"] == "nemesis"]
    assert {"start-power-off", "stop-power-off", "start-kill-leader", "stop-kill-leader"} <= set(nemesis)
    _assert_network_faults_went_through_the_proxies_and_healed(summary, history, output)
    # What the store did about the faults (log replicas, scrub findings) is in the history too.
    store_events = [event for event in history if event["process"] == "store"]
    assert len(store_events) == summary["store_events"] == len((run_dir / "store-events.jsonl").read_text().splitlines())
    added = [event for event in summary["log_replicas"]["events"] if event["action"] == "add-log-replica"]
    assert sum(1 for event in store_events if event["f"] == "add-log-replica") == len(added)
    assert sum(1 for event in history if event["type"] == "ok") > 50
    assert (run_dir / "canaries.jsonl").stat().st_size > 0
    suite = ElementTree.parse(run_dir / "junit.xml").getroot()
    case_names = [case.get("name") for case in suite.iter("testcase")]
    assert "linearizability" in case_names and any(name.startswith("write-availability") for name in case_names)
    assert suite.get("failures") == "0"
    assert _processes_mentioning(str(run_dir)) == []


def _assert_counters_set_query_and_user_load(summary: dict[str, Any], run_dir: Path) -> None:
    verdicts = {verifier["name"]: verifier for verifier in summary["verifiers"]}
    # The register workload's counters were incremented, read back and judged by the counter model.
    assert summary["load"]["register"]["counts"]["incr"]["ok"] > 0
    keys = verdicts["linearizability"]["data"]["verdict"]["keys"]
    assert {name for name, entry in keys.items() if entry.get("model") == "counter"} == {"c0", "c1", "c2", "c3"}
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


def test_the_same_seed_plans_the_same_faults(tmp_path: Path, scenario_file: Path) -> None:
    from chaos.schedule import nodes_from_topology, plan_faults
    from cluster.deploy.local_processes import build_topology
    from gameday.scenario import load_scenario

    scenario = load_scenario(str(scenario_file))
    nodes = nodes_from_topology(build_topology(3, 2, 4))
    first = plan_faults(scenario.faults, 3, nodes, scenario.warmup_s)
    assert first == plan_faults(scenario.faults, 3, nodes, scenario.warmup_s)
    assert first != plan_faults(scenario.faults, 4, nodes, scenario.warmup_s)


def test_ctrl_c_heals_stops_everything_keeps_the_record_and_exits_2(tmp_path: Path, scenario_file: Path) -> None:
    run_dir = tmp_path / "interrupted"
    process = _gameday("run", str(scenario_file), "--seed", "5", "--out", str(run_dir), cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        # Interrupt once the fault phase has begun and the load has had an answer (on a busy machine the
        # first answer can come after the first fault): the record must keep both.
        while time.monotonic() < deadline:
            nemesis = run_dir / "nemesis.jsonl"
            if nemesis.exists() and "start-" in nemesis.read_text() and _load_had_an_answer(run_dir):
                break
            if process.poll() is not None:
                pytest.fail(f"the run ended before its fault phase:\n{process.communicate()[0][-4000:]}")
            time.sleep(0.2)
        else:
            pytest.fail("the fault phase never began within 120 s")
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 2, output
    assert "interrupted" in output
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["partial"] is True and summary["verdict"]["valid"] == "unknown"
    events = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    started = [e for e in events if e["process"] == "nemesis" and e["f"].startswith("start-")]
    stopped = [e for e in events if e["process"] == "nemesis" and e["f"].startswith("stop-")]
    assert started and len(stopped) == len(started), "every fault that started was healed and recorded"
    assert sum(1 for event in events if event["type"] == "ok") > 0
    assert _processes_mentioning(str(run_dir)) == []


def _load_had_an_answer(run_dir: Path) -> bool:
    shards = (run_dir / "load-register" / "shards").glob("*.jsonl")
    return any('"type": "ok"' in shard.read_text() for shard in shards)


def test_a_broken_scenario_is_refused_before_anything_starts(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text(TINY_SCENARIO.replace("power-off = 1", "power-off = -1"))
    process = _gameday("run", str(broken), "--out", str(tmp_path / "never"), cwd=tmp_path)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "broken.toml" in output and "faults.mix.power-off" in output
    assert not (tmp_path / "never").exists()


def test_a_stop_condition_aborts_the_fault_phase_heals_and_fails_the_run(tmp_path: Path) -> None:
    # Every storage node powered off for 20 s: the canaries go red, and the abort must cut it short.
    scenario = tmp_path / "abort.toml"
    scenario.write_text(
        TINY_SCENARIO.replace("duration_s = 10", "duration_s = 40")
        .replace("fault_duration_s = [2, 3]", "fault_duration_s = [20, 20]")
        .replace("power-off = 1\nkill-leader = 1", "cluster-power-off = 1")
        + "\n[abort]\ncanary_availability_below = 0.5\nfor_s = 2\n"
    )
    run_dir = tmp_path / "aborted"
    started = time.monotonic()
    # Stopped with SIGINT if it overstays, as a user would: a SIGKILL would leave its cluster running.
    code, output = run_gameday(["run", str(scenario), "--seed", "1", "--out", str(run_dir)], tmp_path, 240)
    assert code == 1, output
    assert "stop condition" in output
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["chaos"]["reason"] == "aborted"
    verifiers = {verifier["name"]: verifier for verifier in summary["verifiers"]}
    assert verifiers["steady-state"]["valid"] is False
    assert verifiers["cluster-healthy"]["valid"] is True, "the aborted fault was healed"
    events = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    nemesis = [event["f"] for event in events if event["process"] == "nemesis"]
    assert "abort" in nemesis and "stop-cluster-power-off" in nemesis
    # Warm-up 3 s + the abort after a few seconds of red + recovery 5 s: far less than the planned 48 s.
    assert summary["duration_s"] < 40
    assert time.monotonic() - started < 200
    assert _processes_mentioning(str(run_dir)) == []


def _assert_network_faults_went_through_the_proxies_and_healed(
    summary: dict[str, Any], history: list[dict[str, Any]], output: str
) -> None:
    assert summary["proxied_links"] is True, output[-3000:]
    nemesis = [event for event in history if event["process"] == "nemesis"]
    started = [event for event in nemesis if event["f"] in ("start-partition-node", "start-latency")]
    stopped = [event for event in nemesis if event["f"] in ("stop-partition-node", "stop-latency")]
    assert {event["f"] for event in started} == {"start-partition-node", "start-latency"}, output[-3000:]
    assert len(stopped) == len(started)
    assert all(event["value"].get("links") or event["value"].get("streams") for event in started), started
    assert not any(event["f"] == "heal-all" for event in nemesis), "nothing was left for the final sweep"
