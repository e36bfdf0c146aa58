"""The `resources` verdict (issue 15's soak): series that level off pass, series still growing over the
run's second half fail, start-up and noise do not; the sampler reads real /proc and a real directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gameday.checks.resources import (
    GROWTH_FLOORS,
    ResourceSampler,
    judge_growth,
    sample_process,
    slope,
    verdict,
)
from gameday.run_record import RunRecord
from gameday.scenario import (
    ResourceSettings,
    ScenarioError,
    load_scenario,
    parse_duration,
    with_fault_duration,
)

SETTINGS = ResourceSettings(interval_s=2.0, growth_tolerance=0.1)


def _samples(process: str, pid: int, values: list[float], measure: str = "wal_mb", start_s: float = 0.0,
             every_s: float = 2.0) -> list[dict[str, Any]]:  # fmt: skip
    return [{"t": start_s + i * every_s, "process": process, "pid": pid, measure: value} for i, value in enumerate(values)]


def test_the_least_squares_slope_of_a_line_is_its_slope() -> None:
    assert slope([(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]) == pytest.approx(2.0)
    assert slope([(5.0, 1.0), (5.0, 9.0)]) == 0.0


def test_a_wal_that_grows_with_every_write_fails_and_one_that_levels_off_passes() -> None:
    growing = _samples("node-a1", 10, [2.0 + 0.2 * i for i in range(300)])  # 2 -> 62 MB over 10 minutes
    level = _samples("node-b1", 11, [30.0 + (i % 5) * 0.5 for i in range(300)])  # saw-tooth around 31 MB
    judged, unjudged = judge_growth(growing + level, SETTINGS)
    by_process = {growth.process: growth for growth in judged}
    assert unjudged == []
    assert by_process["node-a1"].failed and by_process["node-a1"].growth == pytest.approx(0.1 * 2 * 149, rel=0.05)
    assert not by_process["node-b1"].failed
    result = verdict(judged, unjudged, SETTINGS)
    assert result.valid is False and "node-a1 wal_mb" in result.detail and "node-b1" not in result.detail


def test_growth_under_the_floor_or_under_the_tolerance_passes() -> None:
    # 5 MB of RSS growth is allocator noise (floor 6 MB) however small the level.
    small = _samples("node-a1", 10, [20.0 + 5.0 * i / 299 for i in range(300)], "rss_mb")
    # 30 MB on a 500 MB level is 6 %: under the 10 % tolerance.
    big = _samples("node-b1", 11, [500.0 + 60.0 * i / 299 for i in range(300)], "rss_mb")
    judged, _ = judge_growth(small + big, SETTINGS)
    assert [growth.failed for growth in judged] == [False, False]
    assert verdict(judged, [], SETTINGS).valid is True


def test_a_restarted_process_is_judged_on_its_longest_incarnation_after_its_start_up() -> None:
    # The first incarnation is flat and dies at 400 s; the second starts at 402 s and grows only while
    # it starts (its first 20 s), then stays flat: it covers more of the second half, and did not grow.
    first = _samples("node-a1", 10, [40.0] * 201, "rss_mb")
    second = _samples("node-a1", 20, [10.0 + 3.0 * min(i, 10) for i in range(100)], "rss_mb", start_s=402.0)
    judged, _ = judge_growth(first + second, SETTINGS)
    assert len(judged) == 1 and judged[0].pid == 20 and not judged[0].failed and judged[0].level == pytest.approx(40.0)
    # Had the start-up counted, the second incarnation would have looked like 30 MB of growth.
    second_only, _ = judge_growth(_samples("node-a1", 20, [10.0 + 3.0 * min(i, 10) for i in range(300)], "rss_mb"), SETTINGS)
    assert not second_only[0].failed


def test_a_series_too_short_to_judge_is_named_and_no_series_is_unknown() -> None:
    judged, unjudged = judge_growth(_samples("node-a1", 10, [1.0, 2.0, 3.0]), SETTINGS)
    assert judged == [] and unjudged and "node-a1 wal_mb" in unjudged[0]
    assert verdict(judged, unjudged, SETTINGS).valid == "unknown"
    assert judge_growth([], SETTINGS) == ([], [])


def test_a_process_sample_reads_this_process_and_a_storage_nodes_directories(tmp_path: Path) -> None:
    wal = tmp_path / "groups" / "g1-p0" / "wal"
    state = tmp_path / "groups" / "g1-p0" / "state"
    wal.mkdir(parents=True)
    state.mkdir(parents=True)
    (wal / "segment-1").write_bytes(b"x" * 2**20)
    (state / "items.sqlite").write_bytes(b"y" * 2**19)
    sample = sample_process(os.getpid(), tmp_path)
    assert sample is not None
    assert sample["rss_mb"] > 10 and sample["fds"] >= 3
    assert sample["wal_mb"] == pytest.approx(1.0) and sample["store_mb"] == pytest.approx(0.5)
    assert "wal_mb" not in (sample_process(os.getpid(), tmp_path / "not-a-node") or {})
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert sample_process(gone.pid, None) is None


class _ThisProcessAsACluster:
    """What the sampler reads of a cluster (its pids and data directory), pointing at this process."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def pids(self) -> dict[str, int]:
        return {"node-a1": os.getpid()}


def test_the_sampler_writes_a_line_per_process_and_sweep_until_stopped(tmp_path: Path) -> None:
    (tmp_path / "processes" / "node-a1" / "groups" / "g" / "wal").mkdir(parents=True)
    path = tmp_path / "resources.jsonl"
    sampler = ResourceSampler(_ThisProcessAsACluster(tmp_path), path, 0.05)
    sampler.start()
    try:
        deadline = time.monotonic() + 10
        while (not path.exists() or len(path.read_text().splitlines()) < 3) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sampler.stop()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) >= 3 and {line["process"] for line in lines} == {"node-a1"}
    assert all(set(GROWTH_FLOORS) <= set(line) for line in lines)
    assert [line["t"] for line in lines] == sorted(line["t"] for line in lines)


def test_resources_and_durations_are_validated_with_the_field(tmp_path: Path) -> None:
    soak = load_scenario("soak")
    assert soak.resources == ResourceSettings(2.0, 0.1)
    assert load_scenario("smoke").resources is None
    broken = tmp_path / "broken.toml"
    broken.write_text(Path(soak.source).read_text().replace("growth_tolerance = 0.1", "growth_tolerance = 0"))
    with pytest.raises(ScenarioError) as error:
        load_scenario(str(broken))
    assert error.value.field_path == "resources.growth_tolerance"
    assert parse_duration("90") == 90 and parse_duration("10m") == 600 and parse_duration("1h") == 3600
    for bad in ("ten minutes", "-5m", "0"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    longer = with_fault_duration(soak, 3600)
    assert longer.faults.duration_s == 3600 and longer.faults.mix == soak.faults.mix
    with pytest.raises(ScenarioError, match="shorter than one fault"):
        with_fault_duration(soak, 3)


def test_the_replay_of_a_longer_run_names_its_duration(tmp_path: Path) -> None:
    record = RunRecord(with_fault_duration(load_scenario("soak"), 3600), 7, tmp_path, "", 0.0, 0.0)
    assert record.replay.endswith("--seed 7 --duration 3600s")


def test_a_bad_duration_is_refused_before_anything_starts(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gameday.cli", "run", "soak", "--duration", "forever", "--out", str(tmp_path / "never")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "--duration" in done.stderr and "'forever'" in done.stderr
    assert not (tmp_path / "never").exists()


def test_the_report_plots_each_measure_per_process_and_tables_the_growth(tmp_path: Path) -> None:
    from gameday.report.page import build_report_html

    samples = _samples("node-a1", 10, [5.0 + i for i in range(40)], "wal_mb", start_s=1000.0)
    samples += [{**sample, "rss_mb": 30.0, "fds": 12.0, "store_mb": 2.0} for sample in samples]
    (tmp_path / "resources.jsonl").write_text("".join(json.dumps(sample) + "\n" for sample in samples))
    judged, unjudged = judge_growth(samples, SETTINGS)
    summary = {"scenario": "soak", "seed": 1, "run_start_monotonic_s": 1000.0, "duration_s": 80.0,
               "resources": {"series": [growth.__dict__ for growth in judged], "unjudged": unjudged}}  # fmt: skip
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    page = build_report_html(tmp_path)
    section = page[page.index("<h2>Resources</h2>"):]
    for title in ("Resident memory per process", "Open file descriptors", "Write-ahead log on disk", "Item stores on disk"):
        assert title in section
    assert section.count("<svg") >= 4
    assert "<td>node-a1</td><td>wal_mb</td>" in section and "grows" in section
    assert "<h2>Resources</h2>" not in build_report_html(tmp_path / "no-such-run")
