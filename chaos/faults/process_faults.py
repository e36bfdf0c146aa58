"""Process faults: power-off (SIGKILL, power on at heal), pause (SIGSTOP/SIGCONT), kill-leader, az-power-off.

Each injector remembers exactly what its start did, so heal undoes that and nothing else: a process
that was already down before the fault is not powered on by this fault's heal (heal_all's sweep is
what restores a cluster whatever happened).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Mapping
from typing import Any

from chaos.faults.injector import NOTHING_TO_HEAL, FaultContext, FaultNotApplicable
from chaos.faults.leaders import choose_leader
from chaos.lazyfs.power_cut import lose_unsynced_data
from cluster.deploy.local_processes import ClusterError, process_state

# A signal is delivered asynchronously: os.kill returns before the target has stopped or died. Faults
# wait (bounded) until the kernel shows the effect, so a recorded start-event is true when written and a
# heal right after a power-off does not mistake a dying process for a running one.
SIGNAL_EFFECT_TIMEOUT_S = 5.0
_POLL_S = 0.01


def _wait_until(context: FaultContext, predicate: Callable[[], bool]) -> bool:
    waited_s = 0.0
    while not predicate():
        if waited_s >= SIGNAL_EFFECT_TIMEOUT_S:
            return False
        context.sleep(_POLL_S)
        waited_s += _POLL_S
    return True


def _power_off(context: FaultContext, process_ids: list[str]) -> dict[str, int]:
    """SIGKILL each running process; returns the pid of each one actually killed."""
    pids = context.cluster.pids()
    killed: dict[str, int] = {}
    for process_id in process_ids:
        if not context.cluster.is_running(process_id):
            continue
        with contextlib.suppress(ClusterError, ProcessLookupError):  # it died on its own meanwhile
            context.cluster.signal_process(process_id, signal.SIGKILL)
            killed[process_id] = pids[process_id]
    for process_id in killed:
        _wait_until(context, lambda process_id=process_id: not context.cluster.is_running(process_id))
    return killed


def _power_on(context: FaultContext, process_ids: list[str]) -> dict[str, int]:
    """Starts each process that is not running, on its own data directory; returns the new pids."""
    started: dict[str, int] = {}
    for process_id in process_ids:
        if not context.cluster.is_running(process_id):
            started[process_id] = context.cluster.start_process(process_id)
    for process_id in started:
        # Until the child has exec'd, its command line lacks the cluster's marker and it does not count as
        # running; a sweep in that window would start a second copy on the same data directory.
        _wait_until(context, lambda process_id=process_id: context.cluster.is_running(process_id))
    return started




class _PoweredOffProcesses:
    """Shared heal of every power-off family member: power on exactly what start powered off."""

    kind = ""

    def __init__(self, target: Mapping[str, Any]) -> None:
        self.target = dict(target)
        self.powered_off: dict[str, int] = {}

    def heal(self, context: FaultContext) -> dict[str, Any]:
        if not self.powered_off:
            return dict(NOTHING_TO_HEAL)
        process_ids = sorted(self.powered_off)
        started = _power_on(context, process_ids)
        self.powered_off = {}
        return {"process_ids": process_ids, "pids": started}


class PowerOff(_PoweredOffProcesses):
    """SIGKILL one process (a power cut: no shutdown, no flush); heal powers it on."""

    kind = "power-off"

    def start(self, context: FaultContext) -> dict[str, Any]:
        process_id = self.target["process_id"]
        self.powered_off = _power_off(context, [process_id])
        if not self.powered_off:
            raise FaultNotApplicable(f"{process_id} is not running")
        disks = lose_unsynced_data(context.cluster, self.powered_off)  # a power cut, not a crash
        return {"process_ids": [process_id], "pids": dict(self.powered_off), "az": self.target.get("az"),
                **({"disks": disks} if disks else {})}


class KillLeader(_PoweredOffProcesses):
    """SIGKILL whoever leads the selected group now; heal powers it on (it rejoins as a follower)."""

    kind = "kill-leader"

    def start(self, context: FaultContext) -> dict[str, Any]:
        topology = context.cluster.topology()
        node_ids = {spec.process_id for spec in topology.by_role("node")}
        waited_s = 0.0
        step_s = 0.2
        while True:
            try:
                process_id, group = choose_leader(self.target, context.leaders(), node_ids)
                break
            except LookupError as error:
                if waited_s >= context.leader_wait_s:
                    raise FaultNotApplicable(f"{error} (waited {waited_s:.1f}s)") from error
            context.sleep(step_s)
            waited_s += step_s
        self.powered_off = _power_off(context, [process_id])
        if not self.powered_off:
            raise FaultNotApplicable(f"{process_id} led {group or 'the most groups'} but is not running")
        return {
            "of": self.target.get("of"),
            "group": group,
            "process_ids": [process_id],
            "pids": dict(self.powered_off),
            "az": topology.get(process_id).az,
        }


class AzPowerOff(_PoweredOffProcesses):
    """Power off every process of the chosen roles in one AZ at once, as a lost data centre would."""

    kind = "az-power-off"

    def start(self, context: FaultContext) -> dict[str, Any]:
        az = self.target["az"]
        roles = self.target.get("roles", ["node"])
        members = [spec.process_id for spec in context.cluster.topology().processes if spec.az == az and spec.role in roles]
        self.powered_off = _power_off(context, members)
        if not self.powered_off:
            raise FaultNotApplicable(f"no running {'/'.join(roles)} process in {az}")
        disks = lose_unsynced_data(context.cluster, self.powered_off)
        return {"az": az, "roles": list(roles), "process_ids": sorted(self.powered_off), "pids": dict(self.powered_off),
                **({"disks": disks} if disks else {})}


class Pause:
    """SIGSTOP one process (a long GC pause or a hung VM: sockets stay open, nothing answers); heal SIGCONTs it."""

    kind = "pause"

    def __init__(self, target: Mapping[str, Any]) -> None:
        self.target = dict(target)
        self.paused: dict[str, int] = {}

    def start(self, context: FaultContext) -> dict[str, Any]:
        process_id = self.target["process_id"]
        if not context.cluster.is_running(process_id):
            raise FaultNotApplicable(f"{process_id} is not running")
        pid = context.cluster.pids()[process_id]
        try:
            context.cluster.signal_process(process_id, signal.SIGSTOP)
        except (ClusterError, ProcessLookupError) as error:
            raise FaultNotApplicable(f"{process_id}: {error}") from error
        self.paused = {process_id: pid}
        _wait_until(context, lambda: process_state(pid) in ("T", "?", "Z"))
        return {"process_ids": [process_id], "pids": {process_id: pid}, "az": self.target.get("az")}

    def heal(self, context: FaultContext) -> dict[str, Any]:
        if not self.paused:
            return dict(NOTHING_TO_HEAL)
        resumed: dict[str, int] = {}
        for process_id, pid in self.paused.items():
            # Only the process this fault paused: a power-on since then has a new pid that is not ours to touch.
            if context.cluster.is_running(process_id) and context.cluster.pids().get(process_id) == pid:
                with contextlib.suppress(ClusterError, ProcessLookupError):
                    context.cluster.signal_process(process_id, signal.SIGCONT)
                    resumed[process_id] = pid
                    _wait_until(context, lambda pid=pid: process_state(pid) != "T")
        process_ids = sorted(self.paused)
        self.paused = {}
        return {"process_ids": process_ids, "resumed": resumed}
