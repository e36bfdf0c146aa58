"""What one game day did, as the checks judge it and as ``summary.json`` tells it.

The orchestration (gameday/game_day.py) fills a `RunRecord` as the run goes; the checks
(gameday/checks/) read it; `to_summary` writes the contract other tools read (DESIGN §4: reports,
baselines, the self-test), with the keys, and in the order, that file has always had.

Not to be confused with gameday/selftest_verdict.py's `RunRecord`: that one is a finished run as the
self-test reads it back from its summary.json.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from canaries.records_file import read_all_records
from chaos.controller import RunOutcome
from cluster.deploy.backends import DEFAULT_BACKEND
from gameday.nemesis_file import fault_windows
from gameday.prometheus_run import RunPrometheus
from gameday.scenario import Scenario
from loadgen.locust_stats import read_locust_stats
from loadgen.run import LoadResult

NEMESIS_FILE = "nemesis.jsonl"
CANARY_RECORDS_FILE = "canaries.jsonl"
# Sections summary.json has always placed before the run's timing: they were read before the cluster stopped.
SECTIONS_BEFORE_TIMING = ("log_replicas",)
# Each load's history with the nemesis events merged in, by the model it is judged as.
# The user's own locustfile (`--locustfile`) records into a history of its own, judged as registers and counters.
HISTORY_FILES = {
    "register": "history.jsonl", "set": "history-set.jsonl", "bank": "history-bank.jsonl",
    "list-append": "history-list-append.jsonl", "index": "history-index.jsonl", "user": "history-user.jsonl",
}


@dataclass
class RunRecord:
    scenario: Scenario
    seed: int
    run_dir: Path
    started_at: str  # UTC, ISO 8601
    run_start_monotonic_s: float  # reset once load and canaries run: the origin of every relative time
    run_start_wall_s: float  # read beside the monotonic one: Grafana annotations need epoch time
    planted_bugs: list[str] = field(default_factory=list)
    backend: str = DEFAULT_BACKEND
    baseline: dict[str, Any] | None = None  # `--baseline`: the run's alarms are compared with it
    user_load: dict[str, Any] | None = None  # `--locustfile`: {"locustfile": path, "users": n}

    # Known once the cluster is up (None: the run never got that far, and summary.json leaves the key out).
    proxied_links: bool | None = None
    endpoints: dict[str, str] | None = None
    power_loss: dict[str, Any] | None = None
    router_cache: str | None = None
    plan: list[dict[str, Any]] | None = None
    # The run's own Prometheus, live until the run returns: the prometheus check queries it.
    prometheus: RunPrometheus | None = None
    prometheus_summary: dict[str, Any] | None = None
    canaries_started_wall_s: float = 0.0
    canaries_stopped_wall_s: float | None = None

    # Known once the cluster is down.
    run_end_monotonic_s: float | None = None
    chaos: RunOutcome | None = None
    errors: list[str] = field(default_factory=list)
    partial: bool = True  # until the run ends without interruption or infrastructure error
    load_results: dict[str, LoadResult] = field(default_factory=dict)

    # What each check read from the live cluster (by check name), and what it adds to summary.json (by key).
    observations: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, Any] = field(default_factory=dict)
    store_events: int | None = None
    verdict: dict[str, Any] | None = None

    @property
    def nemesis_path(self) -> Path:
        return self.run_dir / NEMESIS_FILE

    @property
    def replay(self) -> str:
        """The command that replays this run's fault schedule."""
        return (
            f"gameday run {self.scenario.source or self.scenario.name} --seed {self.seed}"
            + (f" --duration {self.scenario.duration_override_s:g}s" if self.scenario.duration_override_s else "")
            + "".join(f" --planted-bug {name}" for name in self.planted_bugs)
            + (f" --backend {self.backend}" if self.backend != DEFAULT_BACKEND else "")
            + (
                f" --locustfile {self.user_load['locustfile']} --locust-users {self.user_load['users']}"
                if self.user_load
                else ""
            )
        )

    @property
    def run_end_s(self) -> float:
        assert self.run_end_monotonic_s is not None, "the run has not ended"
        return self.run_end_monotonic_s

    def fault_windows(self) -> list[dict[str, Any]]:
        """Every fault's window, in absolute monotonic seconds (an unhealed one has no heal_s)."""
        return fault_windows(self.nemesis_path)

    def canary_records(self) -> list[dict[str, Any]]:
        return read_all_records(self.run_dir / CANARY_RECORDS_FILE)

    def to_summary(self) -> dict[str, Any]:
        """summary.json as it stands (write_outputs adds the verifiers' list)."""
        summary: dict[str, Any] = {
            "scenario": self.scenario.name,
            "seed": self.seed,
            "started_at": self.started_at,
            "run_start_monotonic_s": self.run_start_monotonic_s,
            "run_start_wall_s": self.run_start_wall_s,
            "replay": self.replay,
            "planted_bugs": self.planted_bugs,
            "backend": self.backend,
            "thresholds": asdict(self.scenario.thresholds),
            "partial": self.partial,
        }
        if self.user_load is not None:
            summary["user_load"] = self.user_load
        known_once_up = {
            "proxied_links": self.proxied_links,
            "endpoints": self.endpoints,
            "power_loss": self.power_loss,
            "router_cache": self.router_cache,
            "plan": self.plan,
            "prometheus": self.prometheus_summary,
        }
        summary.update((key, value) for key, value in known_once_up.items() if value is not None)
        sections = dict(self.sections)
        summary.update((key, sections.pop(key)) for key in SECTIONS_BEFORE_TIMING if key in sections)
        if self.run_end_monotonic_s is not None:
            run_start_s, run_end_s = self.run_start_monotonic_s, self.run_end_monotonic_s
            summary["duration_s"] = round(run_end_s - run_start_s, 3)
            summary["faults"] = [
                {
                    **window,
                    "start_s": window["start_s"] - run_start_s,
                    "heal_s": window.get("heal_s", run_end_s) - run_start_s,
                }
                for window in self.fault_windows()
            ]
            summary["chaos"] = vars(self.chaos) if self.chaos else None
            summary["errors"] = self.errors
            # Per load: the history's counts, and Locust's own per-request statistics (throughput, errors, latency).
            summary["load"] = {
                model: {"counts": result.counts, "requests": read_locust_stats(result.stats_paths)}
                for model, result in self.load_results.items()
            }
        summary.update(sections)
        if self.store_events is not None:
            summary["store_events"] = self.store_events
        if self.verdict is not None:
            summary["verdict"] = self.verdict
        return summary
