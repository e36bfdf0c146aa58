"""The chaos controller (Jepsen's nemesis): applies a planned schedule on time, records it, always heals.

Faults are recorded in the history vocabulary (DESIGN §4) as nemesis `info` events, `start-<kind>` when
applied and `stop-<kind>` when healed, with exactly the processes, pids, group and AZ touched. Healing
is guaranteed three ways: `run` heals in a `finally`, the controller is a context manager whose exit
heals, and `heal_all` ends with a sweep that resumes every paused process and powers on every process
the cluster started that is no longer running, whatever injector bookkeeping says.

Faults that keep acting while active (a flapping link, leader churn: injectors with a `tick`) are
stepped every `step_s` between their start and their heal; what they do is recorded as nemesis events
carrying their fault number, beside the fault's own start and stop.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from chaos.faults.injector import FaultContext, FaultInjector, FaultNotApplicable, ProcessCluster
from chaos.faults.leaders import LeaderView, leader_view_from_status
from chaos.faults.registry import InjectorRegistry, default_registry
from chaos.schedule import PlannedFault
from cluster.deploy.local_processes import ClusterError, process_state

NEMESIS = "nemesis"


@dataclass(frozen=True)
class RunOutcome:
    reason: str  # "completed" (every planned fault ran and healed) | "stopped" (stop_event) | "aborted"
    detail: str
    faults_started: int
    faults_skipped: int
    heals: list[dict[str, Any]]


@dataclass
class _AbortCondition:
    name: str
    is_red: Callable[[], bool]
    limit_s: float
    check_every_s: float
    red_since: float | None = None
    checked_at: float | None = None
    last_problem: str = ""


@dataclass
class _ActiveFault:
    number: int
    fault: PlannedFault
    injector: FaultInjector
    started: dict[str, Any] = field(default_factory=dict)


class ChaosController:
    def __init__(
        self,
        cluster: ProcessCluster,
        record: Callable[[dict[str, Any]], None],
        clock: Callable[[], float] = time.monotonic,
        *,
        registry: InjectorRegistry | None = None,
        leaders: Callable[[], LeaderView] | None = None,
        step_s: float = 0.1,
        leader_wait_s: float = 5.0,
    ) -> None:
        self.cluster = cluster
        self.record = record
        self.clock = clock
        self.registry = registry or default_registry()
        self.step_s = step_s
        self.context = FaultContext(
            cluster,
            leaders or (lambda: leader_view_from_status(cluster.status())),
            leader_wait_s=leader_wait_s,
            clock=clock,
        )
        self._active: list[_ActiveFault] = []
        self._aborts: list[_AbortCondition] = []
        # Reentrant: heal_all may run from a signal handler or another thread while run() applies a fault.
        self._lock = threading.RLock()

    # ---- set-up --------------------------------------------------------------------------------------

    def validate(self, kinds: Iterable[str]) -> None:
        """Raises UnsupportedFaultError before anything starts if a kind has no injector."""
        self.registry.check(kinds, self.cluster)

    def abort_when(
        self, is_red: Callable[[], bool], limit_s: float, name: str = "steady state", check_every_s: float = 1.0
    ) -> None:
        """Abort the run when `is_red()` stays true (or raises) for `limit_s`: the steady state is lost."""
        if limit_s < 0 or check_every_s <= 0:
            raise ValueError("limit_s must be >= 0 and check_every_s > 0")
        self._aborts.append(_AbortCondition(name, is_red, limit_s, check_every_s))

    # ---- the run -------------------------------------------------------------------------------------

    def run(self, plan: Sequence[PlannedFault], stop_event: threading.Event, start_time: float) -> RunOutcome:
        """Applies `plan` (times relative to `start_time` on `clock`), then heals everything, always."""
        self.validate(fault.kind for fault in plan)
        pending = sorted(enumerate(plan, start=1), key=lambda numbered: (numbered[1].start_s, numbered[0]))
        started = skipped = 0
        reason, detail = "completed", f"{len(plan)} planned fault(s) applied and healed"
        try:
            while True:
                if stop_event.is_set():
                    reason, detail = "stopped", "stop requested"
                    break
                abort = self._check_aborts()
                if abort:
                    reason, detail = "aborted", abort
                    self.record({"process": NEMESIS, "type": "info", "f": "abort", "value": {"reason": abort}})
                    break
                now_s = self.clock() - start_time
                self._heal_due(now_s)
                self._tick_active()
                while pending and pending[0][1].start_s <= now_s:
                    number, fault = pending.pop(0)
                    if self._start(number, fault):
                        started += 1
                    else:
                        skipped += 1
                with self._lock:
                    due = [active.fault.heal_s for active in self._active]
                if not pending and not due:
                    break
                if pending:
                    due.append(pending[0][1].start_s)
                # Small steps: a stop or an abort is noticed within step_s even in a long quiet gap.
                stop_event.wait(min(self.step_s, max(0.0, min(due) - (self.clock() - start_time))))
        finally:
            heals = self.heal_all()
        return RunOutcome(reason, detail, started, skipped, heals)

    def _check_aborts(self) -> str | None:
        now = self.clock()
        for condition in self._aborts:
            if condition.checked_at is not None and now - condition.checked_at < condition.check_every_s:
                continue
            condition.checked_at = now
            try:
                red = bool(condition.is_red())
                condition.last_problem = "probe red" if red else ""
            except Exception as error:  # a probe that cannot even ask has not shown a steady state
                red, condition.last_problem = True, f"probe raised {error!r}"
            if not red:
                condition.red_since = None
                continue
            if condition.red_since is None:
                condition.red_since = now
            if now - condition.red_since >= condition.limit_s:
                return f"{condition.name} red for {now - condition.red_since:.1f}s (limit {condition.limit_s}s): {condition.last_problem}"
        return None

    def _start(self, number: int, fault: PlannedFault) -> bool:
        with self._lock:
            injector = self.registry.create(fault.kind, fault.target)
            try:
                result = injector.start(self.context)
            except FaultNotApplicable as error:
                value = {"fault": number, "target": fault.target, "reason": str(error)}
                self.record({"process": NEMESIS, "type": "info", "f": f"skip-{fault.kind}", "value": value})
                return False
            self._active.append(_ActiveFault(number, fault, injector, result))
            self.record({"process": NEMESIS, "type": "info", "f": f"start-{fault.kind}", "value": {"fault": number, **result}})
            return True

    def _tick_active(self) -> None:
        with self._lock:
            for active in list(self._active):
                tick = getattr(active.injector, "tick", None)
                if tick is None:
                    continue
                try:
                    events = tick(self.context)
                except Exception as error:  # a fault that cannot go on is healed now, not left half-applied
                    self.record({"process": NEMESIS, "type": "info", "f": f"error-{active.fault.kind}",
                                 "value": {"fault": active.number, "error": repr(error)}})
                    self._heal(active)
                    continue
                for event in events:
                    value = {"fault": active.number, "kind": active.fault.kind, **event.get("value", {})}
                    self.record({"process": NEMESIS, "type": "info", "f": event["f"], "value": value})

    def _heal_due(self, now_s: float) -> None:
        with self._lock:
            for active in [active for active in self._active if active.fault.heal_s <= now_s]:
                self._heal(active)

    def _heal(self, active: _ActiveFault) -> dict[str, Any]:
        try:
            result = active.injector.heal(self.context)
        except Exception as error:  # keep healing the others; heal_all's sweep is the backstop
            result = {"error": repr(error)}
        # Removed even on error: heal_all's sweep, not a retry of a broken injector, restores the processes.
        self._active.remove(active)
        value = {"fault": active.number, **result}
        self.record({"process": NEMESIS, "type": "info", "f": f"stop-{active.fault.kind}", "value": value})
        return {"kind": active.fault.kind, **value}

    def active_fault_counts(self) -> dict[str, int]:
        """Faults started and not yet healed, by kind (for chaos_active_faults).

        Read without the lock: starting a fault can hold it for seconds (waiting for a leader), and a
        metrics scrape must not wait on that. Copying the list is atomic under the GIL.
        """
        counts: dict[str, int] = {}
        for active in list(self._active):
            counts[active.fault.kind] = counts.get(active.fault.kind, 0) + 1
        return counts

    # ---- healing -------------------------------------------------------------------------------------

    def heal_all(self) -> list[dict[str, Any]]:
        """Heals every active fault (latest first), then resumes/powers on anything left paused or down."""
        with self._lock:
            heals = [self._heal(active) for active in reversed(list(self._active))]
            sweep = self._sweep()
            if sweep:
                self.record({"process": NEMESIS, "type": "info", "f": "heal-all", "value": sweep})
                heals.append({"kind": "heal-all", **sweep})
            return heals

    def _sweep(self) -> dict[str, Any]:
        """Belt and braces: every process `up` started (listed in the cluster's pids) running and not paused.

        A cluster that was brought `down` lists no pids, so the sweep never resurrects one on purpose.
        """
        resumed: list[str] = []
        powered_on: dict[str, int] = {}
        errors: dict[str, str] = {}
        for process_id, pid in sorted(self.cluster.pids().items()):
            try:
                if not self.cluster.is_running(process_id):
                    powered_on[process_id] = self.cluster.start_process(process_id)
                elif process_state(pid) == "T":
                    self.cluster.signal_process(process_id, signal.SIGCONT)
                    resumed.append(process_id)
            except (ClusterError, OSError) as error:
                errors[process_id] = str(error)
        sweep: dict[str, Any] = {}
        links = self.cluster.links() if hasattr(self.cluster, "links") else None
        if links is not None:
            try:
                leftover = links.toxics_active()
                if leftover:
                    links.heal_all()
                    sweep["toxics_removed"] = leftover
            except Exception as error:  # an unreachable proxy server is reported, not hidden
                errors["toxiproxy"] = repr(error)
        if resumed:
            sweep["resumed"] = resumed
        if powered_on:
            sweep["powered_on"] = powered_on
        if errors:
            sweep["errors"] = errors
        return sweep

    def __enter__(self) -> ChaosController:
        return self

    def __exit__(
        self, error_type: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if error is None:
            self.heal_all()
            return
        # Never let a failing heal hide the exception that brought us here.
        with contextlib.suppress(Exception):
            self.heal_all()
