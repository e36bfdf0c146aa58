"""One game day, end to end: cluster up → warm-up → load, canaries and faults → heal → recovery →
verifiers → cluster down, with the report written even when the run is cut short.

Everything started here is stopped in `finally` blocks, in reverse order: faults healed first (so a
paused process can be stopped), then load, canaries and what the checks watch, then the cluster.

What is judged is not decided here: each check (gameday/checks/registry.py) says whether the scenario
wants it, what it reads from the live and the stopped cluster, and its verdict from the run's record
(gameday/run_record.py), which also writes summary.json.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from canaries.fleet import CanaryFleet, start_canaries
from chaos.controller import ChaosController
from chaos.faults.kinds import FAULT_KINDS
from chaos.schedule import format_plan, nodes_from_topology, plan_faults
from cluster.deploy.backends import DEFAULT_BACKEND, open_cluster
from cluster.runtime.planted_bugs import check_planted_bugs
from gameday.canary_settings import CANARY_INTERVAL_S, CANARY_TABLE, CANARY_TIMEOUT_S
from gameday.checks.base import Stoppable
from gameday.checks.registry import checks_for, judge_checks, observe_after_down, observe_before_down
from gameday.hot_key_loads import HOT_LOAD, start_hot_key_loads
from gameday.progress import ProgressReporter
from gameday.prometheus_run import RunPrometheus, start_run_prometheus
from gameday.run_record import HISTORY_FILES, RunRecord
from gameday.run_verdict import VerifierResult, exit_code_for, overall_validity, write_outputs
from gameday.scenario import COMBINED_MODELS, Scenario
from gameday.steady_state import CanaryAvailabilityProbe
from gameday.store_events import add_store_events
from loadgen.endpoints import rotated
from loadgen.history_merge import merge_histories
from loadgen.index_admin import ScheduledIndexAdd
from loadgen.run import LoadRun, start_load
from loadgen.user_load import USER_LOAD, UserLoad, start_user_load
from verify.history import HistoryWriter

__all__ = ["CANARY_INTERVAL_S", "GameDayResult", "new_seed", "run_game_day"]

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
    fleet: CanaryFleet | None = None
    controller: ChaosController | None = None
    chaos_thread: threading.Thread | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    phase: str = "starting"
    prometheus: RunPrometheus | None = None
    watchers: list[Stoppable] = field(default_factory=list)  # what checks started at cluster up
    index_add: ScheduledIndexAdd | None = None  # the index workload's add-index, when the scenario asks


def new_seed() -> int:
    return int.from_bytes(os.urandom(4), "big")


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
    user_load: UserLoad | None = None,
) -> GameDayResult:
    """With ``prometheus``, a real Prometheus scrapes every process for the whole run (data kept in
    RUN_DIR/prometheus) and the alarm verdict is cross-checked against it (gameday/checks/prometheus.py).
    With ``user_load``, the user's own locustfile runs beside our loads (loadgen/user_load.py)."""
    state = _RunState()
    try:
        return _run_game_day(
            state, scenario, seed, run_dir, say, workers, cluster_faults, baseline, toxiproxy, backend, prometheus,
            user_load,
        )  # fmt: skip
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
    user_load: UserLoad | None,
) -> GameDayResult:
    # Refused before anything starts: a misspelt planted bug would silently test the correct store.
    planted_bugs = check_planted_bugs(cluster_faults or [])
    run_dir.mkdir(parents=True, exist_ok=True)
    cluster = open_cluster(backend, run_dir / "cluster")
    record = RunRecord(
        scenario=scenario,
        seed=seed,
        run_dir=run_dir,
        started_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        run_start_monotonic_s=time.monotonic(),
        run_start_wall_s=time.time(),
        planted_bugs=planted_bugs,
        backend=backend,
        baseline=baseline,
        user_load={"locustfile": str(user_load.locustfile), "users": user_load.users} if user_load else None,
    )
    nemesis = HistoryWriter(record.nemesis_path)
    checks = checks_for(scenario, user_load=user_load is not None)
    interrupted = False
    say(f"game day {scenario.name!r}, seed {seed} (replay: {record.replay}); run directory {run_dir}")

    def record_nemesis(event: dict[str, Any]) -> None:
        nemesis.write(event)
        elapsed_s = time.monotonic() - record.run_start_monotonic_s
        say(f"[{elapsed_s:6.1f}s] fault: {event['f']} {json.dumps(event.get('value'))[:160]}")

    try:
        try:
            state.phase = "cluster up"
            say("starting the cluster...")
            shape = scenario.cluster
            # Network faults cut links through Toxiproxy proxies, so those links must exist first.
            record.proxied_links = toxiproxy is not None or any(
                FAULT_KINDS[kind].family == "network" for kind in scenario.faults.mix
            )
            cluster.up(
                azs=shape.azs,
                nodes_per_az=shape.nodes_per_az,
                partitions_per_table=shape.partitions_per_table,
                faults=planted_bugs,
                toxiproxy=toxiproxy,
                proxy_links=record.proxied_links,
                settings=shape.store_settings(),
            )
            endpoints = record.endpoints = cluster.endpoints()
            record.power_loss = _power_loss_description(cluster)
            say(f"power loss model: {record.power_loss}")
            record.router_cache = scenario.cluster.router_cache
            for check in checks:  # e.g. the cache-flush lesson samples the metadata service's load from now on
                watcher = check.at_cluster_up(cluster, record)
                if watcher is not None:
                    state.watchers.append(watcher)
            plan = (
                plan_faults(scenario.faults, seed, nodes_from_topology(cluster.topology()), start_s=scenario.warmup_s)
                if scenario.faults.mix
                else []  # a scenario without [faults]
            )
            say(format_plan(plan, seed))
            record.plan = [{"kind": f.kind, "start_s": f.start_s, "heal_s": f.heal_s, "target": f.target} for f in plan]
            state.controller = ChaosController(cluster, record_nemesis)
            state.controller.validate(fault.kind for fault in plan)
            if scenario.abort is not None:
                probe = CanaryAvailabilityProbe(
                    run_dir / "canaries.jsonl", scenario.thresholds.window_s, scenario.abort.canary_availability_below
                )
                state.controller.abort_when(probe.is_red, scenario.abort.for_s, name="canary availability")
            record.canaries_started_wall_s = time.time()
            _start_canaries(state, endpoints, run_dir)
            if prometheus:
                state.phase = "prometheus"
                _start_prometheus(state, cluster, scenario, run_dir, say)
                record.prometheus = state.prometheus
                record.prometheus_summary = state.prometheus.summary() if state.prometheus else None
            _start_loads(state, scenario, seed, endpoints, run_dir, workers)
            if user_load is not None:
                # Its round over the routers starts after ours, so with few users the loads lean on different ones.
                state.loads[USER_LOAD] = start_user_load(
                    user_load.locustfile, rotated(endpoints, len(state.loads)), user_load.users, run_dir / "load-user", seed
                )
            run_start_s = record.run_start_monotonic_s = time.monotonic()
            record.run_start_wall_s = time.time()
            if scenario.workload.add_index_at_s is not None and "index" in state.loads:
                index_load = state.loads["index"]
                state.index_add = ScheduledIndexAdd(
                    next(iter(endpoints.values())), index_load.table, index_load.extra_shard_path("add-index"),
                    run_start_s, scenario.workload.add_index_at_s,
                ).start()  # fmt: skip
            state.chaos_thread = threading.Thread(
                target=_run_chaos, args=(state, record, plan, run_start_s), name="chaos", daemon=True
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
                outcome = record.chaos
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
            record.errors.append("interrupted (Ctrl-C): the run is partial")
            say("interrupted: healing every fault, stopping load, canaries and the cluster...")
        except Exception as error:  # an infrastructure failure: the verdict is unknown, never valid
            record.errors.append(f"{state.phase}: {type(error).__name__}: {error}")
            say(f"run failed during {state.phase}: {error}")
        finally:
            _stop_chaos(state)
            _stop_load_and_canaries(state, record, say)
        if not interrupted and not record.errors:
            state.phase = "cluster health"
            observe_before_down(checks, cluster, record)
    except KeyboardInterrupt:
        interrupted = True
        record.errors.append("interrupted (Ctrl-C) while stopping: the run is partial")
    finally:
        _stop_chaos(state)
        _stop_load_and_canaries(state, record, say)
        nemesis.close()
        cluster.down()
    record.run_end_monotonic_s = time.monotonic()
    record.partial = interrupted or bool(record.errors)
    say("judging the history and the canaries...")
    _merge_histories(record)
    observe_after_down(checks, cluster, record)
    results = judge_checks(checks, record, say)
    if not record.partial:
        # After every verifier has read the histories: the store's own events join them for the record.
        histories = [run_dir / name for name in HISTORY_FILES.values()]
        record.store_events = add_store_events(run_dir, record.to_summary(), histories)
    validity = overall_validity(results, record.partial)
    code = exit_code_for(validity)
    record.verdict = {"valid": validity, "exit_code": code, "reason": _reason(results, record.errors)}
    summary = record.to_summary()
    write_outputs(run_dir, summary, results)
    _write_report(run_dir, say)
    _print_verdict(say, results, summary)
    return GameDayResult(code, run_dir, summary)


def _merge_histories(record: RunRecord) -> None:
    """Each load's history with the nemesis events merged in: the files the checks and the report read."""
    for model, file_name in HISTORY_FILES.items():
        result = record.load_results.get(model)
        if result is None:
            continue
        hot_load = record.load_results.get(HOT_LOAD) if model == "register" else None  # the hot-key workload's hot users
        extra = [hot_load.history_path] if hot_load is not None else []
        merge_histories([result.history_path, *extra, record.nemesis_path], record.run_dir / file_name)


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
    models = list(COMBINED_MODELS.get(workload.model, (workload.model,)))
    for number, model in enumerate(models):
        # Beside another load, the second one gets half the clients.
        users = workload.clients if number == 0 else max(1, workload.clients // 2)
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
            weights=workload.register_weights,
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


def _run_chaos(state: _RunState, record: RunRecord, plan: list[Any], start_s: float) -> None:
    assert state.controller is not None
    try:
        record.chaos = state.controller.run(plan, state.stop, start_s)
    except Exception as error:
        record.errors.append(f"chaos controller: {type(error).__name__}: {error}")


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


def _stop_load_and_canaries(state: _RunState, record: RunRecord, say: Say) -> None:
    if state.index_add is not None:  # its history first: the index load merges it when it finishes
        state.index_add.stop()
        state.index_add = None
    for load in state.loads.values():  # every load told first: they wind down (final reads too) side by side
        with contextlib.suppress(Exception):  # one that cannot be told is reported by its stop() below
            load.stop()
    for model, load in list(state.loads.items()):
        try:
            load.stop()
            record.load_results[model] = load.wait(timeout_s=60)
        except Exception as error:
            record.errors.append(f"{model} load: {type(error).__name__}: {error}")
            say(f"{model} load did not stop cleanly: {error}")
        state.loads.pop(model)
    if state.fleet is not None:
        state.fleet.stop()
        state.fleet = None
        record.canaries_stopped_wall_s = time.time()
    while state.watchers:
        state.watchers[0].stop()
        state.watchers.pop(0)


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
