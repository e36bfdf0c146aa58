"""One game day, end to end: cluster up → warm-up → load, canaries and faults → heal → recovery →
verifiers → cluster down, with the report written even when the run is cut short.

Everything started here is stopped in `finally` blocks, in reverse order: faults healed first (so a
paused process can be stopped), then load and canaries, then the cluster.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from canaries.alarms import FaultWindow
from canaries.data_alarms import evaluate_data_alarms
from canaries.fleet import CanaryFleet, start_canaries
from canaries.records_file import read_all_records
from chaos.controller import ChaosController, RunOutcome
from chaos.faults.kinds import FAULT_KINDS
from chaos.schedule import format_plan, nodes_from_topology, plan_faults
from cluster.deploy.backends import DEFAULT_BACKEND, open_cluster
from cluster.runtime.planted_bugs import check_planted_bugs
from gameday.admission_probe import read_admission_observations
from gameday.admission_verdict import judge_admission_run
from gameday.alarm_verdict import judge_alarms
from gameday.availability_regression import availability_regression_result
from gameday.baseline import BaselineError, compare
from gameday.cluster_health import check_cluster_healthy
from gameday.history_check import check_history_file
from gameday.hot_key_loads import HOT_LOAD, start_hot_key_loads
from gameday.log_replica_report import log_replica_result
from gameday.metadata_load import SAMPLES_FILE as METADATA_SAMPLES_FILE
from gameday.metadata_load import MetadataLoadSampler, metadata_addresses
from gameday.metadata_load import judge_run as judge_metadata_run
from gameday.progress import ProgressReporter
from gameday.prometheus_run import RunPrometheus, prometheus_verdict, start_run_prometheus
from gameday.run_verdict import VerifierResult, exit_code_for, overall_validity, write_outputs
from gameday.scenario import FaultKindThreshold, Scenario
from gameday.scrub_verdict import scrub_result
from gameday.steady_state import CanaryAvailabilityProbe
from gameday.store_errors import store_errors_result
from gameday.store_events import add_store_events
from loadgen.endpoints import rotated
from loadgen.history_merge import merge_histories
from loadgen.register_workload import RegisterWeights
from loadgen.run import LoadResult, LoadRun, start_load
from verify.history import HistoryWriter

CANARY_INTERVAL_S = 0.25
CANARY_TIMEOUT_S = 1.0  # connect and read, each
CANARY_IN_FLIGHT_S = 2 * CANARY_TIMEOUT_S
CANARY_TABLE = "canary"
CHECK_TIME_LIMIT_S = 60.0

Say = Callable[[str], None]


@dataclass
class GameDayResult:
    exit_code: int
    run_dir: Path
    summary: dict[str, Any]


@dataclass
class _RunState:
    """What a run has started so far: the finally blocks stop exactly this."""

    loads: dict[str, LoadRun] = field(default_factory=dict)
    load_results: dict[str, LoadResult] = field(default_factory=dict)
    fleet: CanaryFleet | None = None
    controller: ChaosController | None = None
    chaos_thread: threading.Thread | None = None
    chaos_outcome: RunOutcome | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    phase: str = "starting"
    errors: list[str] = field(default_factory=list)
    prometheus: RunPrometheus | None = None
    metadata_sampler: MetadataLoadSampler | None = None
    admission_observations: dict[str, Any] | None = None  # the hot-key lesson: read before the cluster stops
    canaries_started_wall_s: float = 0.0
    canaries_stopped_wall_s: float | None = None


def new_seed() -> int:
    return int.from_bytes(os.urandom(4), "big")


def fault_windows(nemesis_path: Path) -> list[dict[str, Any]]:
    """Start/stop pairs of the nemesis events, by fault number, in monotonic seconds."""
    windows: dict[Any, dict[str, Any]] = {}
    if not nemesis_path.exists():
        return []
    for line in nemesis_path.read_text().splitlines():
        event = json.loads(line)
        function, value = event.get("f", ""), event.get("value") or {}
        number = value.get("fault") if isinstance(value, dict) else None
        if number is None:
            continue
        if function.startswith("start-"):
            windows[number] = {"kind": function[len("start-"):], "start_s": event["time"] / 1e9, "target": value}
        elif function.startswith("stop-") and number in windows:
            windows[number]["heal_s"] = event["time"] / 1e9
    return sorted(windows.values(), key=lambda window: window["start_s"])


def alarm_fault_window(start_s: float, heal_s: float, expected: FaultKindThreshold | None) -> FaultWindow:
    """A fault window as the alarms judge it: with its kind's own floor when the scenario sets one.

    Canary records carry the time a request started, so a request already in flight when the fault
    began (up to its connect + read timeouts earlier) belongs to the fault, not to the calm before it.
    """
    start_s -= CANARY_IN_FLIGHT_S
    if expected is None:
        return FaultWindow(start_s, heal_s)
    return FaultWindow(start_s, heal_s, expected.availability, expected.grace_s)


def unplanned_faults(nemesis_path: Path) -> list[str]:
    """What the controller's final sweep had to power on or resume: nothing planned held it down."""
    found = []
    if nemesis_path.exists():
        for line in nemesis_path.read_text().splitlines():
            event = json.loads(line)
            if event.get("f") == "heal-all" and isinstance(event.get("value"), dict):
                value = event["value"]
                found += [f"{process} was down" for process in value.get("powered_on", {})]
                found += [f"{process} was paused" for process in value.get("resumed", [])]
    return found


def run_game_day(
    scenario: Scenario,
    seed: int,
    run_dir: Path,
    say: Say,
    *,
    workers: int = 0,
    cluster_faults: list[str] | None = None,
    baseline: dict[str, Any] | None = None,
    toxiproxy: str | None = None,
    backend: str = DEFAULT_BACKEND,
    prometheus: bool = False,
) -> GameDayResult:
    """With ``prometheus``, a real Prometheus scrapes every process for the whole run (data kept in
    RUN_DIR/prometheus) and the alarm verdict is cross-checked against it (gameday/prometheus_run.py)."""
    state = _RunState()
    try:
        return _run_game_day(
            state, scenario, seed, run_dir, say, workers, cluster_faults, baseline, toxiproxy, backend, prometheus
        )
    finally:
        # Last, after the verdict: the cross-check queries Prometheus once everything else has stopped.
        if state.prometheus is not None:
            state.prometheus.stop()
            say(f"prometheus stopped; to browse this run again: {state.prometheus.summary()['browse_after_run']}")


def _run_game_day(
    state: _RunState,
    scenario: Scenario,
    seed: int,
    run_dir: Path,
    say: Say,
    workers: int,
    cluster_faults: list[str] | None,
    baseline: dict[str, Any] | None,
    toxiproxy: str | None,
    backend: str,
    prometheus: bool,
) -> GameDayResult:
    # Refused before anything starts: a misspelt planted bug would silently test the correct store.
    planted_bugs = check_planted_bugs(cluster_faults or [])
    run_dir.mkdir(parents=True, exist_ok=True)
    cluster = open_cluster(backend, run_dir / "cluster")
    nemesis_path = run_dir / "nemesis.jsonl"
    nemesis = HistoryWriter(nemesis_path)
    run_start_s = time.monotonic()
    summary: dict[str, Any] = {
        "scenario": scenario.name,
        "seed": seed,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "run_start_monotonic_s": run_start_s,
        "run_start_wall_s": time.time(),  # read beside the monotonic one: Grafana annotations need epoch time
        "replay": f"gameday run {scenario.source or scenario.name} --seed {seed}"
        + "".join(f" --planted-bug {name}" for name in planted_bugs)
        + (f" --backend {backend}" if backend != DEFAULT_BACKEND else ""),
        "planted_bugs": planted_bugs,
        "backend": backend,
        "thresholds": asdict(scenario.thresholds),
        "partial": True,
    }
    results: list[VerifierResult] = []
    interrupted = False
    say(f"game day {scenario.name!r}, seed {seed} (replay: {summary['replay']}); run directory {run_dir}")

    def record_nemesis(event: dict[str, Any]) -> None:
        nemesis.write(event)
        say(f"[{time.monotonic() - run_start_s:6.1f}s] fault: {event['f']} {json.dumps(event.get('value'))[:160]}")

    try:
        try:
            state.phase = "cluster up"
            say("starting the cluster...")
            shape = scenario.cluster
            # Network faults cut links through Toxiproxy proxies, so those links must exist first.
            proxied = toxiproxy is not None or any(
                FAULT_KINDS[kind].family == "network" for kind in scenario.faults.mix
            )
            summary["proxied_links"] = proxied
            cluster.up(
                azs=shape.azs,
                nodes_per_az=shape.nodes_per_az,
                partitions_per_table=shape.partitions_per_table,
                faults=planted_bugs,
                toxiproxy=toxiproxy,
                proxy_links=proxied,
                settings=shape.store_settings(),
            )
            endpoints = cluster.endpoints()
            summary["endpoints"] = endpoints
            summary["power_loss"] = _power_loss_description(cluster)
            say(f"power loss model: {summary['power_loss']}")
            summary["router_cache"] = scenario.cluster.router_cache
            if "cache-flush" in scenario.faults.mix:
                # The metadata service's load around each flush is what the cache-flush scenario judges.
                state.metadata_sampler = MetadataLoadSampler(
                    metadata_addresses(cluster), run_dir / METADATA_SAMPLES_FILE, endpoints
                )
                state.metadata_sampler.start()
            plan = (
                plan_faults(scenario.faults, seed, nodes_from_topology(cluster.topology()), start_s=scenario.warmup_s)
                if scenario.faults.mix
                else []  # a scenario without [faults]
            )
            say(format_plan(plan, seed))
            summary["plan"] = [
                {"kind": f.kind, "start_s": f.start_s, "heal_s": f.heal_s, "target": f.target} for f in plan
            ]
            state.controller = ChaosController(cluster, record_nemesis)
            state.controller.validate(fault.kind for fault in plan)
            if scenario.abort is not None:
                probe = CanaryAvailabilityProbe(
                    run_dir / "canaries.jsonl", scenario.thresholds.window_s, scenario.abort.canary_availability_below
                )
                state.controller.abort_when(probe.is_red, scenario.abort.for_s, name="canary availability")
            state.canaries_started_wall_s = time.time()
            _start_canaries(state, endpoints, run_dir)
            if prometheus:
                state.phase = "prometheus"
                _start_prometheus(state, cluster, scenario, run_dir, say)
                summary["prometheus"] = state.prometheus.summary() if state.prometheus else None
            _start_loads(state, scenario, seed, endpoints, run_dir, workers)
            run_start_s = time.monotonic()
            summary["run_start_monotonic_s"] = run_start_s
            summary["run_start_wall_s"] = time.time()
            state.chaos_thread = threading.Thread(
                target=_run_chaos, args=(state, plan, run_start_s), name="chaos", daemon=True
            )
            state.chaos_thread.start()
            fault_phase_end_s = scenario.warmup_s + scenario.faults.duration_s
            total_s = fault_phase_end_s + scenario.recovery_s
            progress = ProgressReporter(run_dir, say, run_start_s, total_s)
            while (elapsed := time.monotonic() - run_start_s) < total_s:
                state.phase = (
                    "warm-up" if elapsed < scenario.warmup_s
                    else "faults" if elapsed < fault_phase_end_s
                    else "recovery"
                )
                progress.maybe_report(state.phase)
                if elapsed >= fault_phase_end_s and state.chaos_thread.is_alive():
                    state.stop.set()
                outcome = state.chaos_outcome
                if outcome is not None and outcome.reason == "aborted" and elapsed < fault_phase_end_s:
                    # The stop condition fired (and every fault is healed): recover, then judge.
                    say(f"[{elapsed:6.1f}s] stop condition: {outcome.detail}; going to recovery")
                    fault_phase_end_s = elapsed
                    total_s = progress.total_s = elapsed + scenario.recovery_s
                _raise_if_load_died(state)
                time.sleep(0.25)
            state.phase = "stopping load"
            _stop_chaos(state)
        except KeyboardInterrupt:
            interrupted = True
            state.errors.append("interrupted (Ctrl-C): the run is partial")
            say("interrupted: healing every fault, stopping load, canaries and the cluster...")
        except Exception as error:  # an infrastructure failure: the verdict is unknown, never valid
            state.errors.append(f"{state.phase}: {type(error).__name__}: {error}")
            say(f"run failed during {state.phase}: {error}")
        finally:
            _stop_chaos(state)
            _stop_load_and_canaries(state, say)
        if not interrupted and not state.errors:
            state.phase = "cluster health"
            results.append(check_cluster_healthy(cluster, unplanned_faults(nemesis_path)))
            log_replicas = log_replica_result(cluster.status(), scenario.cluster.log_replicas)
            summary["log_replicas"] = log_replicas.data
            results.append(log_replicas)
            if scenario.workload.model == "hot-key":
                state.admission_observations = read_admission_observations(cluster)
    except KeyboardInterrupt:
        interrupted = True
        state.errors.append("interrupted (Ctrl-C) while stopping: the run is partial")
    finally:
        _stop_chaos(state)
        _stop_load_and_canaries(state, say)
        nemesis.close()
        cluster.down()
    run_end_s = time.monotonic()
    summary["duration_s"] = round(run_end_s - run_start_s, 3)
    summary["faults"] = [
        {**window, "start_s": window["start_s"] - run_start_s, "heal_s": window.get("heal_s", run_end_s) - run_start_s}
        for window in fault_windows(nemesis_path)
    ]
    summary["chaos"] = vars(state.chaos_outcome) if state.chaos_outcome else None
    summary["errors"] = state.errors
    summary["partial"] = interrupted or bool(state.errors)
    results = _verify(state, scenario, run_dir, nemesis_path, run_start_s, run_end_s, summary, say) + results
    results.append(_canary_data(run_dir))
    availability = None if summary["partial"] else availability_regression_result(
        scenario.name, read_all_records(run_dir / "canaries.jsonl"), fault_windows(nemesis_path), run_start_s, run_end_s,
        backend,
    )  # fmt: skip
    if availability is not None:  # None: no availability baseline is shipped for this scenario and backend
        summary["availability_regression"] = availability.data
        results.append(availability)
    if not summary["partial"]:
        scrub = scrub_result(cluster, nemesis_path, run_start_s, events_path=run_dir / "scrub.jsonl")
        summary["scrub"] = scrub.data
        results.append(scrub)
        # After `down`: every process's log is complete (with its stop line) and kept (Docker copies it then).
        results.append(store_errors_result(cluster, run_dir))
    if "cache-flush" in scenario.faults.mix and not summary["partial"]:
        results.append(judge_metadata_run(run_dir, scenario.cluster.router_cache))
    if scenario.workload.model == "hot-key" and not summary["partial"]:
        admission = judge_admission_run(
            run_dir / "history.jsonl", scenario.cluster.admission_enabled, state.admission_observations, run_start_s
        )
        summary["admission"] = admission.data
        results.append(admission)
    if state.prometheus is not None:
        say("cross-checking the canaries' records against prometheus...")
        records_path = run_dir / "canaries.jsonl"
        records = read_all_records(records_path)
        results.append(
            prometheus_verdict(
                state.prometheus, records, state.canaries_started_wall_s, state.canaries_stopped_wall_s or time.time()
            )
        )
    if scenario.abort is not None:
        results.append(_steady_state(state.chaos_outcome, scenario))
    if baseline is not None:
        results.append(_compare_with_baseline(baseline, summary, scenario.thresholds.regression_tolerance))
    if not summary["partial"]:
        # After every verifier has read the histories: the store's own events join them for the record.
        histories = [run_dir / name for name in ("history.jsonl", "history-set.jsonl")]
        summary["store_events"] = add_store_events(run_dir, summary, histories)
    validity = overall_validity(results, summary["partial"])
    code = exit_code_for(validity)
    summary["verdict"] = {"valid": validity, "exit_code": code, "reason": _reason(results, state.errors)}
    write_outputs(run_dir, summary, results)
    _write_report(run_dir, say)
    _print_verdict(say, results, summary)
    return GameDayResult(code, run_dir, summary)


# ---- pieces of the run --------------------------------------------------------------------------


def _start_canaries(state: _RunState, endpoints: dict[str, str], run_dir: Path) -> None:
    # Until links go through per-AZ proxies, every canary reaches every router directly.
    endpoints_by_az = {az: dict(endpoints) for az in endpoints}
    # Cross reads: what a canary wrote through its own AZ's router, read through every other router.
    state.fleet = start_canaries(
        endpoints_by_az, CANARY_TABLE, run_dir, CANARY_INTERVAL_S, timeout_s=CANARY_TIMEOUT_S, cross_reads=True
    )


def _start_prometheus(state: _RunState, cluster: Any, scenario: Scenario, run_dir: Path, say: Say) -> None:
    assert state.fleet is not None and state.controller is not None
    controller = state.controller
    # The Docker backend publishes each /metrics on 127.0.0.1; the local one serves them where they are.
    metrics_targets = getattr(cluster, "metrics_targets", None)
    state.prometheus = start_run_prometheus(
        run_dir, cluster.topology(), state.fleet.metrics_ports, controller.active_fault_counts, scenario.thresholds,
        say, metrics_targets() if callable(metrics_targets) else None,
    )


def _start_loads(
    state: _RunState, scenario: Scenario, seed: int, endpoints: dict[str, str], run_dir: Path, workers: int
) -> None:
    workload = scenario.workload
    wait_ms = 1000.0 / workload.rate_per_client_s if workload.rate_per_client_s else 10.0
    if workload.hot_key is not None:
        # Cold and hot users in two load processes; both record into the register history.
        state.loads.update(
            start_hot_key_loads(workload, scenario.cluster.partitions_per_table, endpoints, run_dir, workers, wait_ms, seed)
        )
        return
    models = ["register", "set"] if workload.model == "both" else [workload.model]
    for number, model in enumerate(models):
        users = workload.clients if len(models) == 1 or model == "register" else max(1, workload.clients // 2)
        # Every load gets every router: each user is bound to one, round robin, and all users share the keys,
        # so a write through one router and a read through another can show a stale read (DESIGN §5b).
        state.loads[model] = start_load(
            rotated(endpoints, number),
            model,
            users,
            None,
            run_dir / f"load-{model}",
            workers=workers,
            table=f"{model}-{seed}",  # a fresh table per run: old values would make a history lie
            keys=workload.keys,
            weights=RegisterWeights(workload.read_weight, workload.write_weight, workload.cas_weight),
            wait_ms=wait_ms,
            seed=seed,
        )


def _power_loss_description(cluster: Any) -> dict[str, Any]:
    """Which model a power-off uses, and why when it fell back: a run that could not mount lazyfs judges
    durability only against the store's own durable mark, and its report must say so."""
    describe = getattr(cluster, "power_loss_description", None)
    if callable(describe):
        return describe()
    return {"model": "store-mark", "fallback": "this backend has no FUSE power-loss layer"}


def _run_chaos(state: _RunState, plan: list[Any], start_s: float) -> None:
    assert state.controller is not None
    try:
        state.chaos_outcome = state.controller.run(plan, state.stop, start_s)
    except Exception as error:
        state.errors.append(f"chaos controller: {type(error).__name__}: {error}")


def _stop_chaos(state: _RunState) -> None:
    state.stop.set()
    if state.chaos_thread is not None:
        state.chaos_thread.join(timeout=60)
    if state.controller is not None:
        state.controller.heal_all()


def _raise_if_load_died(state: _RunState) -> None:
    for model, load in state.loads.items():
        if load.finished_early():
            raise RuntimeError(f"the {model} load generator exited early; see {load.out_dir / 'logs'}")


def _stop_load_and_canaries(state: _RunState, say: Say) -> None:
    for model, load in list(state.loads.items()):
        try:
            load.stop()
            state.load_results[model] = load.wait(timeout_s=60)
        except Exception as error:
            state.errors.append(f"{model} load: {type(error).__name__}: {error}")
            say(f"{model} load did not stop cleanly: {error}")
        state.loads.pop(model)
    if state.fleet is not None:
        state.fleet.stop()
        state.fleet = None
        state.canaries_stopped_wall_s = time.time()
    if state.metadata_sampler is not None:
        state.metadata_sampler.stop()
        state.metadata_sampler = None


def _verify(
    state: _RunState,
    scenario: Scenario,
    run_dir: Path,
    nemesis_path: Path,
    run_start_s: float,
    run_end_s: float,
    summary: dict[str, Any],
    say: Say,
) -> list[VerifierResult]:
    say("judging the history and the canaries...")
    results: list[VerifierResult] = []
    summary["load"] = {model: {"counts": result.counts} for model, result in state.load_results.items()}
    checks = {"register": ("linearizability", "history.jsonl"), "set": ("sets", "history-set.jsonl")}
    for model, (name, file_name) in checks.items():
        result = state.load_results.get(model)
        if result is None:
            if model in (["register", "set"] if scenario.workload.model == "both" else [scenario.workload.history_model]):
                results.append(VerifierResult(name, "unknown", f"the {model} load produced no history"))
            continue
        history_path = run_dir / file_name
        hot_load = state.load_results.get(HOT_LOAD) if model == "register" else None  # the hot-key workload's hot users
        extra = [hot_load.history_path] if hot_load is not None else []
        merge_histories([result.history_path, *extra, nemesis_path], history_path)
        results.append(_judge_history(name, model, history_path, run_dir, result))
    records_path = run_dir / "canaries.jsonl"
    records = read_all_records(records_path)
    thresholds = scenario.thresholds
    windows = [
        alarm_fault_window(window["start_s"], window.get("heal_s", run_end_s), thresholds.by_fault_kind.get(window["kind"]))
        for window in fault_windows(nemesis_path)
    ]
    alarms, summary["alarms"] = judge_alarms(records, thresholds, windows, run_start_s, run_end_s)
    results.append(alarms)
    return results


def _canary_data(run_dir: Path) -> VerifierResult:
    """Data alarms: a consistent canary read (same endpoint or cross-endpoint) that missed an acknowledged write."""
    records = read_all_records(run_dir / "canaries.jsonl")
    if not records:
        return VerifierResult("canary-data", "unknown", "the canaries recorded nothing")
    report = evaluate_data_alarms(records)
    return VerifierResult("canary-data", report.validity(), report.describe(), report.to_json())


def _steady_state(outcome: RunOutcome | None, scenario: Scenario) -> VerifierResult:
    assert scenario.abort is not None
    if outcome is not None and outcome.reason == "aborted":
        # The stop condition fired: customers lost the service for longer than the scenario allows.
        return VerifierResult("steady-state", False, f"the run was aborted: {outcome.detail}")
    floor = scenario.abort.canary_availability_below
    return VerifierResult(
        "steady-state", True, f"canary availability never stayed below {floor:.1%} for {scenario.abort.for_s:g} s"
    )


def _compare_with_baseline(baseline: dict[str, Any], summary: dict[str, Any], tolerance: float) -> VerifierResult:
    try:
        regressions = compare(baseline, summary, tolerance)
    except BaselineError as error:
        return VerifierResult("regression", "unknown", str(error))
    if regressions:
        details = "; ".join(regression.describe() for regression in regressions)
        return VerifierResult("regression", False, f"{len(regressions)} regression(s): {details}")
    return VerifierResult(
        "regression", True, f"no regression beyond {tolerance:.0%} against baseline seed {baseline.get('seed')}"
    )


def _judge_history(name: str, model: str, history_path: Path, run_dir: Path, load: LoadResult) -> VerifierResult:
    ok_operations = sum(counts.get("ok", 0) for counts in load.counts.values())
    if ok_operations == 0:
        return VerifierResult(name, "unknown", f"no {model} operation succeeded: nothing was tested")
    try:
        check = check_history_file(history_path, model, time_limit_s=CHECK_TIME_LIMIT_S)
    except Exception as error:  # a history the checker cannot read is a harness failure: unknown
        return VerifierResult(name, "unknown", f"cannot check {history_path.name}: {error}")
    verdict = check.verdict
    if check.pages:
        check_dir = run_dir / "check"
        check_dir.mkdir(exist_ok=True)
        for key, page in check.pages.items():
            (check_dir / f"timeline-{model}-{''.join(c if c.isalnum() else '_' for c in key)}.html").write_text(page)
    detail = f"{ok_operations} ok operations; verdict {verdict['valid']}"
    # The history may hold more than this load (the hot-key users' operations): say what was checked.
    checked = sum(entry.get("operation_count", 0) for entry in verdict.get("keys", {}).values())
    if checked:
        detail += f" ({checked} operations over {verdict['key_count']} keys checked)"
    if check.explanations:
        detail += "\n" + "\n".join(check.explanations)
    return VerifierResult(name, verdict["valid"], detail, {"verdict": verdict})


def _reason(results: list[VerifierResult], errors: list[str]) -> str:
    failing = [f"{result.name}: {result.valid}" for result in results if result.valid is not True]
    return "; ".join(errors + failing) or "every verifier passed"


def _write_report(run_dir: Path, say: Say) -> None:
    try:
        from gameday.report import render_report

        path = render_report(run_dir)
    except Exception as error:  # the verdict stands even if the page cannot be drawn
        say(f"could not write the HTML report: {error}")
        return
    say(f"report: {path}")


def _print_verdict(say: Say, results: list[VerifierResult], summary: dict[str, Any]) -> None:
    say("")
    say(f"{'verifier':<20} verdict")
    for result in results:
        say(f"{result.name:<20} {result.valid}  {result.detail.splitlines()[0][:100]}")
    verdict = summary["verdict"]
    word = {True: "VALID", False: "INVALID"}.get(verdict["valid"], "UNKNOWN")
    say(f"\nverdict: {word} (exit {verdict['exit_code']}) — {verdict['reason']}")
