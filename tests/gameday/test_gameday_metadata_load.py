"""The metadata-load verdict of the cache-flush lesson, from recorded samples (pure)."""

from __future__ import annotations

import json
from pathlib import Path

from gameday.checks.metadata_load import PEAK_RATIO_LIMIT, flush_times, judge_metadata_load, judge_run, rates

FLUSH_S = 100.0 + 15.5 * 0.5  # between sweeps 15 and 16


def samples_from_increases(per_sweep: list[int], role: str = "metadata", replicas: int = 3) -> list[dict]:
    """Samples of `replicas` processes whose summed counters grow by per_sweep[k] at sweep k (0.5 s apart)."""
    counter = "lookups_served" if role == "metadata" else "hits"
    samples = []
    counts = [0] * replicas
    for sweep, increase in enumerate(per_sweep):
        counts[sweep % replicas] += increase  # whoever served them, the sum is what counts
        for replica in range(replicas):
            samples.append({
                "sweep": sweep, "time_s": 100.0 + sweep * 0.5 + 0.01 * replica, "role": role,
                "process": f"{role}-{replica}", counter: counts[replica],
            })
    return samples


def test_rates_are_the_summed_increase_per_second_over_a_sliding_window() -> None:
    windows = rates(samples_from_increases([0] + [50] * 10))  # 50 per 0.5 s = 100/s
    assert windows and all(abs(window.rate_per_s - 100.0) < 3.0 for window in windows[2:])


def test_a_late_sweep_does_not_fake_a_spike() -> None:
    samples = samples_from_increases([0] + [50] * 10)
    for sample in samples:
        if sample["sweep"] >= 6:
            sample["time_s"] += 0.3  # the sampler was late once; every later sweep keeps the delay
    assert max(window.rate_per_s for window in rates(samples)[2:]) < 105.0


def test_a_restarted_process_counts_from_zero_again_and_errors_add_nothing() -> None:
    samples = samples_from_increases([0] + [30] * 8, replicas=1)
    for sample in samples:
        if sample["sweep"] >= 5:
            sample["lookups_served"] -= 150  # the process restarted: its counter began again at 0
    samples.append({"sweep": 9, "time_s": 104.5, "role": "metadata", "process": "metadata-0", "error": "down"})
    assert all(window.rate_per_s >= 0 for window in rates(samples))


def test_constant_work_shape_passes() -> None:
    windows = rates(samples_from_increases([0] + [60] * 30))
    verdict = judge_metadata_load(windows, [FLUSH_S], "constant-work")
    assert verdict.valid is True, verdict.detail
    assert verdict.data["ratio"] <= PEAK_RATIO_LIMIT
    assert 115.0 < verdict.data["steady_per_s"] < 125.0


def test_classic_shape_fails_bimodal_burst_out_of_zero() -> None:
    per_sweep = [0] * 31
    per_sweep[16] = 18  # one lookup per router and table, right after the flush
    clients = rates(samples_from_increases([0] + [60] * 30, "router"), "router")
    verdict = judge_metadata_load(rates(samples_from_increases(per_sweep)), [FLUSH_S], "classic", clients)
    assert verdict.valid is False
    assert verdict.data["steady_per_s"] == 0.0 and verdict.data["peak_per_s"] >= 17.0
    assert "depends on the cache's state" in verdict.detail


def test_a_spike_above_the_limit_fails_and_a_small_one_passes() -> None:
    for extra, expected in ((20, False), (2, True)):
        per_sweep = [0] + [50] * 30
        per_sweep[16] += extra
        per_sweep[17] += extra
        verdict = judge_metadata_load(rates(samples_from_increases(per_sweep)), [FLUSH_S], "constant-work")
        assert verdict.valid is expected, verdict.detail


def test_metadata_load_that_follows_client_traffic_passes_and_more_than_it_fails() -> None:
    # The clients speed up by half right after the flush (a noisy machine): the metadata load follows.
    clients_per_sweep = [0] + [60] * 15 + [90] * 15
    clients = rates(samples_from_increases(clients_per_sweep, "router"), "router")
    following = judge_metadata_load(rates(samples_from_increases(clients_per_sweep)), [FLUSH_S], "constant-work", clients)
    assert following.valid is True and following.data["normalised_by_client_traffic"], following.detail
    assert following.data["raw_ratio"] > PEAK_RATIO_LIMIT  # the raw rate alone would have called it a spike
    doubled = [0] + [60] * 15 + [180] * 15
    amplified = judge_metadata_load(rates(samples_from_increases(doubled)), [FLUSH_S], "constant-work", clients)
    assert amplified.valid is False and 1.9 < amplified.data["ratio"] < 2.1, amplified.detail


def test_unknown_without_flush_or_samples_or_steady_state() -> None:
    windows = rates(samples_from_increases([0] + [10] * 20))
    assert judge_metadata_load(windows, [], "classic").valid == "unknown"
    assert judge_metadata_load([], [101.0], "classic").valid == "unknown"
    assert judge_metadata_load(windows, [windows[1].end_s], "classic").valid == "unknown"


def test_judge_run_reads_the_run_directory(tmp_path: Path) -> None:
    samples = samples_from_increases([0] + [40] * 30) + samples_from_increases([0] + [40] * 30, "router")
    (tmp_path / "metadata-load.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples) + '{"cut')
    flush_ns = int(FLUSH_S * 1e9)
    events = [
        {"process": "nemesis", "type": "info", "f": "start-cache-flush", "time": flush_ns, "value": {"fault": 1}},
        {"process": "nemesis", "type": "info", "f": "start-pause", "time": flush_ns + 1, "value": {"fault": 2}},
    ]
    (tmp_path / "nemesis.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    assert flush_times(events) == [flush_ns / 1e9]
    verdict = judge_run(tmp_path, "constant-work")
    assert verdict.valid is True and len(verdict.data["flushes"]) == 1
    assert verdict.data["flushes"][0]["steady_per_client_request"] == 1.0
