"""kill-coordinator: one AZ's router dies in the middle of a transaction it coordinates.

The fault arms a crash point in the router (cluster/router/crash_points.py) through its admin path: the
next TransactWriteItems it coordinates that gets every vote kills it there, with SIGKILL, so the
transaction is left between its phases with its items locked. `decided = 1` (the default) dies after
the ledger recorded the commit and before any item is written (the janitors must commit every item),
`decided = 0` before the ledger decides (they must cancel it). A supervisor would restart a crashed
router at once, and so does the fault (at its next tick): what is tested is the ledger's recovery, not
how long a router stays away. Heal disarms the point if no transaction reached it, and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chaos.faults.injector import NOTHING_TO_HEAL, FaultContext, FaultNotApplicable
from chaos.faults.process_faults import _power_on
from chaos.faults.router_admin import post_admin
from cluster.router.admin_routes import CRASH_POINT_PATH
from cluster.router.crash_points import TXN_AFTER_COMMIT_DECISION, TXN_AFTER_PREPARE


class KillCoordinator:
    kind = "kill-coordinator"

    def __init__(self, target: Mapping[str, Any]) -> None:
        self.target = dict(target)
        self.router: str | None = None
        self.url = ""
        self.pid: int | None = None
        self.crashed = False

    def start(self, context: FaultContext) -> dict[str, Any]:
        az = self.target["az"]
        routers = [spec.process_id for spec in context.cluster.topology().by_role("router") if spec.az == az]
        url = context.cluster.endpoints().get(az)
        if not routers or url is None:
            raise FaultNotApplicable(f"{az} has no router")
        router = routers[0]
        if not context.cluster.is_running(router):
            raise FaultNotApplicable(f"{router} is not running")
        point = TXN_AFTER_COMMIT_DECISION if float(self.target.get("decided", 1)) >= 0.5 else TXN_AFTER_PREPARE
        answer = post_admin(url, CRASH_POINT_PATH, {"point": point})
        if answer.get("armed") != point:
            raise FaultNotApplicable(f"{router} did not arm {point}: {answer.get('error', answer)}")
        self.router, self.url, self.pid = router, url, context.cluster.pids().get(router)
        return {"process_ids": [router], "az": az, "point": point}

    def tick(self, context: FaultContext) -> list[dict[str, Any]]:
        if self.router is None or self.crashed or context.cluster.is_running(self.router):
            return []
        self.crashed = True
        started = _power_on(context, [self.router])
        # Both pids, so the store-errors check sees which process the fault ended and which it started.
        killed = {self.router: self.pid} if self.pid is not None else {}
        return [{"f": "coordinator-restart", "value": {
            "process_ids": [self.router], "killed_pids": killed, "started_pids": started,
        }}]  # fmt: skip

    def heal(self, context: FaultContext) -> dict[str, Any]:
        if self.router is None:
            return dict(NOTHING_TO_HEAL)
        events = self.tick(context)  # died since the last tick: powered on here
        router, self.router = self.router, None
        healed: dict[str, Any] = {"process_ids": [router], "crashed": self.crashed}
        if events:
            healed.update(killed_pids=events[0]["value"]["killed_pids"], started_pids=events[0]["value"]["started_pids"])
        elif not self.crashed:
            # No transaction through this router got every vote while it was armed: nothing died.
            answer = post_admin(self.url, CRASH_POINT_PATH, {"point": None})
            if "error" in answer:
                healed["error"] = answer["error"]
        return healed
