"""kill-random-subset: power off a (seeded) random subset of storage nodes at once, as Jepsen's
random-subset kill does; heal powers on exactly those it powered off.

The scheduler draws the subset (chaos/schedule.py), so a replay kills the same nodes: inside one AZ
(every group keeps 2 of its 3 replicas, one per AZ) unless the scenario allows majority loss.
"""

from __future__ import annotations

from typing import Any

from chaos.faults.injector import FaultContext, FaultNotApplicable
from chaos.faults.process_faults import _power_off, _PoweredOffProcesses


class KillRandomSubset(_PoweredOffProcesses):
    kind = "kill-random-subset"

    def start(self, context: FaultContext) -> dict[str, Any]:
        process_ids = list(self.target["process_ids"])
        # A member already down (another fault holds it) is not ours: heal must not power it on.
        self.powered_off = _power_off(context, process_ids)
        if not self.powered_off:
            raise FaultNotApplicable(f"none of {process_ids} is running")
        return {"process_ids": sorted(self.powered_off), "pids": dict(self.powered_off), "azs": self.target.get("azs")}
