"""False alarms against missed outages: recorded canary runs replayed under several alarm settings.

Each run directory holds ``canaries.jsonl`` and ``summary.json`` (run start, duration, faults). For every
setting (M of N windows, samples per window, window length, canary interval) this counts:

- false alarms: healthy runs (a store whose data verifiers passed) in which an alarm fired;
- real outages caught: runs of a store that did lose availability (``log-replica-off``) in which one fired;
- synthetic outages caught: one endpoint answering nothing but errors for D seconds, written over the
  healthy runs' own records (one (canary, endpoint) pair, at several start times spread over the run,
  never over a fault expected to cost more than half the service), which shows the shortest outage each
  setting still sees.

Healthy runs are judged by the floors of the scenario named by ``--floors`` (default: ``default``, what
``make gameday`` judges by), so smoke runs are judged as strictly as a full game day; outage runs by their
own scenario's. A slower canary is replayed by keeping every other probe of records taken at 0.25 s; a
setting that needs a faster canary than a run recorded skips that run.

    python -m bench.alarm_tradeoff --healthy RUN_DIR... --outage RUN_DIR... [--floors default]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from canaries.alarms import ALARM_KINDS, AlarmRule, FaultWindow, evaluate_alarms
from gameday.checks.alarms import alarm_thresholds
from gameday.scenario import Thresholds, load_scenario

# As gameday.checks.alarms.alarm_fault_window: a request in flight when a fault began belongs to the fault.
IN_FLIGHT_S = 2.0
SYNTHETIC_OUTAGES_S = (5.0, 10.0, 20.0, 30.0)
SYNTHETIC_STARTS = 8  # start times per outage length, spread over the run
PAIR = ("az-a", "az-b")  # the canary and endpoint of a synthetic outage


@dataclass(frozen=True)
class Setting:
    breaches: int
    windows: int
    samples_min: int
    window_s: float
    interval_s: float = 0.25
    latency_samples_min: int | None = None

    def label(self) -> str:
        latency = f", p99 {self.latency_samples_min}" if self.latency_samples_min else ""
        return (
            f"{self.breaches} of {self.windows} x {self.window_s:g} s, >= {self.samples_min} samples{latency},"
            f" probe every {self.interval_s:g} s"
        )

    def thresholds(self, floors: Thresholds) -> Thresholds:
        rules = {}
        if self.latency_samples_min:
            rules["latency-p99"] = AlarmRule(self.breaches, self.windows, self.latency_samples_min)
        return replace(
            floors,
            window_s=self.window_s,
            alarm_breaches=self.breaches,
            alarm_windows=self.windows,
            samples_min=self.samples_min,
            by_alarm_kind=rules,
        )


SETTINGS = (
    # Before: every breached window fires, half the expected probes judge a window (0.5 s canaries).
    Setting(1, 1, 10, 10.0, interval_s=0.5),
    Setting(1, 1, 20, 10.0),
    Setting(2, 2, 20, 10.0),
    Setting(2, 3, 20, 10.0),
    Setting(2, 3, 20, 10.0, latency_samples_min=100),
    Setting(2, 3, 10, 10.0, interval_s=0.5),
    Setting(3, 3, 20, 10.0),
    Setting(3, 5, 10, 5.0, latency_samples_min=50),
    Setting(1, 1, 40, 20.0),
    Setting(2, 3, 40, 20.0),
)


@dataclass(frozen=True)
class Run:
    name: str
    records: list[dict[str, Any]]
    start_s: float
    end_s: float
    faults: list[tuple[str, float, float]]  # kind, start, heal (monotonic seconds)
    interval_s: float  # how often its canaries probed each endpoint
    scenario: str

    def at_interval(self, interval_s: float) -> list[dict[str, Any]] | None:
        keep_every = round(interval_s / self.interval_s)
        return None if keep_every < 1 else thinned(self.records, keep_every)


def read_run(run_dir: Path) -> Run:
    summary = json.loads((run_dir / "summary.json").read_text())
    records = [json.loads(line) for line in (run_dir / "canaries.jsonl").read_text().splitlines() if line.strip()]
    start_s = float(summary["run_start_monotonic_s"])
    faults = [
        (fault["kind"], start_s + float(fault["start_s"]), start_s + float(fault["heal_s"]))
        for fault in summary.get("faults", [])
    ]
    return Run(run_dir.name, records, start_s, start_s + float(summary["duration_s"]), faults, probe_interval_s(records), summary["scenario"])


def probe_interval_s(records: Sequence[dict[str, Any]]) -> float:
    """The canaries' probe interval from the times between one pair's writes (0.25 or 0.5 s)."""
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    for record in records:
        if record["operation"] == "write":
            times[(record["canary_az"], record["endpoint_az"])].append(record["time_s"])
    gaps = sorted(b - a for series in times.values() for a, b in zip(sorted(series), sorted(series)[1:], strict=False))
    return 0.25 if gaps[len(gaps) // 10] < 0.375 else 0.5  # a canary behind skips slots: the short gaps tell


def thinned(records: Sequence[dict[str, Any]], keep_every: int) -> list[dict[str, Any]]:
    """Every ``keep_every``-th probe of each (canary, endpoint) pair: a probe is a write and the reads after it."""
    if keep_every == 1:
        return list(records)
    probe_number: dict[tuple[str, str], int] = defaultdict(lambda: -1)
    kept = []
    for record in sorted(records, key=lambda record: record["time_s"]):
        pair = (record["canary_az"], record["endpoint_az"])
        if record["operation"] == "write":
            probe_number[pair] += 1
        if probe_number[pair] % keep_every == 0:
            kept.append(record)
    return kept


def with_outage(records: Iterable[dict[str, Any]], pair: tuple[str, str], start_s: float, end_s: float) -> list[dict[str, Any]]:
    """Every step of ``pair`` in [start_s, end_s) answered with an error, as from a dead endpoint."""
    return [
        {**record, "outcome": "error", "error_class": "ConnectionRefused"}
        if (record["canary_az"], record["endpoint_az"]) == pair and start_s <= record["time_s"] < end_s
        else record
        for record in records
    ]


def fault_windows(run: Run, floors: Thresholds) -> list[FaultWindow]:
    windows = []
    for kind, start_s, heal_s in run.faults:
        expected = floors.by_fault_kind.get(kind)
        if expected is None:
            windows.append(FaultWindow(start_s - IN_FLIGHT_S, heal_s))
        else:
            windows.append(FaultWindow(start_s - IN_FLIGHT_S, heal_s, expected.availability, expected.grace_s))
    return windows


def fired(run: Run, records: list[dict[str, Any]], setting: Setting, floors: Thresholds) -> list[str]:
    thresholds = alarm_thresholds(setting.thresholds(floors))
    report = evaluate_alarms(records, thresholds, fault_windows(run, floors), run.start_s, run.end_s)
    return [f"{alarm.kind} {alarm.canary_az}->{alarm.endpoint_az}" for alarm in report.alarms]


def outage_starts(run: Run, duration_s: float, count: int, floors: Thresholds) -> list[float]:
    """Start times of a synthetic outage, evenly spread, never over a fault expected to cost more than half
    the service (there an outage is what the scenario allows)."""
    expensive = [
        (start_s, heal_s)
        for kind, start_s, heal_s in run.faults
        if kind in floors.by_fault_kind and floors.by_fault_kind[kind].availability < 0.5
    ]
    candidates = [run.start_s + index * 0.5 for index in range(int((run.end_s - run.start_s - duration_s) / 0.5))]
    calm = [
        start_s
        for start_s in candidates
        if all(start_s + duration_s <= fault_start - IN_FLIGHT_S or start_s >= heal for fault_start, heal in expensive)
    ]
    if len(calm) <= count:
        return calm
    return [calm[round(index * (len(calm) - 1) / (count - 1))] for index in range(count)]


def evaluate(healthy: list[Run], outages: list[Run], floors: Thresholds) -> list[dict[str, Any]]:
    rows = []
    for setting in SETTINGS:
        healthy_records = [(run, run.at_interval(setting.interval_s)) for run in healthy]
        healthy_records = [(run, records) for run, records in healthy_records if records is not None]
        outage_records = [(run, run.at_interval(setting.interval_s)) for run in outages]
        false_alarms = [fired(run, records, setting, floors) for run, records in healthy_records]
        caught = [
            bool(fired(run, records, setting, load_scenario(run.scenario).thresholds))  # the outage's own floors
            for run, records in outage_records
            if records is not None
        ]
        synthetic: dict[float, tuple[int, int]] = {}
        for duration_s in SYNTHETIC_OUTAGES_S:
            hits = tries = 0
            for run, records in healthy_records:
                # Alarms are per pair: the outage's pair alone decides whether it is caught.
                pair_records = [record for record in records if (record["canary_az"], record["endpoint_az"]) == PAIR]
                baseline = set(fired(run, pair_records, setting, floors))
                for start_s in outage_starts(run, duration_s, SYNTHETIC_STARTS, floors):
                    alarms = fired(run, with_outage(pair_records, PAIR, start_s, start_s + duration_s), setting, floors)
                    tries += 1
                    hits += any(alarm.endswith("az-a->az-b") and alarm not in baseline for alarm in alarms)
            synthetic[duration_s] = (hits, tries)
        rows.append(
            {
                "setting": setting.label(),
                "healthy_runs_with_false_alarm": sum(bool(alarms) for alarms in false_alarms),
                "healthy_runs": len(healthy_records),
                "false_alarm_names": [alarm for alarms in false_alarms for alarm in alarms],
                "false_alarms": sum(len(alarms) for alarms in false_alarms),
                "outage_runs_caught": sum(caught),
                "outage_runs": len(caught),
                "synthetic_caught": {f"{duration:g}s": list(counts) for duration, counts in synthetic.items()},
            }
        )
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    durations = list(rows[0]["synthetic_caught"]) if rows else []
    head = ["setting", "healthy runs with a false alarm", "real outage runs caught"]
    head += [f"{duration} outage caught" for duration in durations]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [
            row["setting"],
            f"{row['healthy_runs_with_false_alarm']} of {row['healthy_runs']} ({row['false_alarms']} alarms)",
            f"{row['outage_runs_caught']} of {row['outage_runs']}",
        ]
        cells += [f"{hits} of {tries}" for hits, tries in row["synthetic_caught"].values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alarm_tradeoff", description=__doc__.splitlines()[0])
    parser.add_argument("--healthy", nargs="+", type=Path, default=[], help="run directories of a healthy store")
    parser.add_argument("--outage", nargs="*", type=Path, default=[], help="run directories of a real outage")
    parser.add_argument("--floors", default="default", help="scenario whose floors judge the healthy runs")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    floors = load_scenario(args.floors).thresholds
    assert set(ALARM_KINDS) >= set(floors.by_alarm_kind)
    rows = evaluate([read_run(path) for path in args.healthy], [read_run(path) for path in args.outage], floors)
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
