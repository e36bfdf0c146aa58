"""Every fault kind a scenario may name, and what the scheduler must know about its target.

The scheduler is generic over this catalogue: a later fault kind is added here (and its injector in
the registry) without touching the scheduler. Whether a kind can actually be applied is the
registry's business, not the schema's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum


class TargetShape(Enum):
    """How the scheduler picks a target, and so which AZs a planned fault is known to touch."""

    PROCESS = "process"  # one concrete process (and therefore its AZ)
    AVAILABILITY_ZONE = "availability-zone"  # one concrete AZ
    LEADER = "leader"  # a selector; only the live cluster knows which process leads
    CLUSTER = "cluster"  # cluster-wide (network layouts): touches an unknown set of AZs
    EVERY_NODE = "every-node"  # every storage node at once; never overlaps another fault
    EVERY_ROUTER = "every-router"  # every router at once; takes no process or AZ down, so overlaps others
    PROCESS_SUBSET = "process-subset"  # several concrete processes (a random subset), and therefore their AZs


@dataclass(frozen=True)
class FaultKind:
    name: str
    family: str  # "process" | "network" | "disk" | "clock" | "router": which module under chaos/faults/ applies it
    target_shape: TargetShape
    selector_keys: frozenset[str]  # keys under [faults.targets.<name>] that narrow which target is chosen
    # Keys under [faults.targets.<name>] that set how hard the fault hits (copied into every planned
    # target for the injector), each with its inclusive (minimum, maximum).
    parameters: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def option_keys(self) -> frozenset[str]:
        """Every key allowed under [faults.targets.<name>] in a scenario."""
        return self.selector_keys | frozenset(self.parameters)


_PROCESS_OPTIONS = frozenset({"azs", "processes"})
_MILLISECONDS = (0.0, 60_000.0)
# A flapping fault toggles on and off, each phase lasting a (seeded) draw from [flap_min_s, flap_max_s].
_FLAP_PARAMETERS = {"flap_min_s": (0.05, 60.0), "flap_max_s": (0.05, 60.0)}
# Must stay inside cluster/replication/replica_host.py's CLOCK_RATE_MINIMUM..MAXIMUM (a test checks).
CLOCK_RATE_RANGE = (0.1, 10.0)

FAULT_KINDS: dict[str, FaultKind] = {
    kind.name: kind
    for kind in (
        FaultKind("power-off", "process", TargetShape.PROCESS, _PROCESS_OPTIONS),
        FaultKind("pause", "process", TargetShape.PROCESS, _PROCESS_OPTIONS),
        FaultKind("kill-leader", "process", TargetShape.LEADER, frozenset({"of"})),
        FaultKind("az-power-off", "process", TargetShape.AVAILABILITY_ZONE, frozenset({"azs", "roles"})),
        # A data-centre power outage: every storage node off at once, unsynced writes lost (power_loss.py).
        FaultKind("cluster-power-off", "process", TargetShape.EVERY_NODE, frozenset()),
        FaultKind("partition-node", "network", TargetShape.PROCESS, _PROCESS_OPTIONS),
        FaultKind("partition-az", "network", TargetShape.AVAILABILITY_ZONE, frozenset({"azs"})),
        FaultKind("partition-majority", "network", TargetShape.CLUSTER, frozenset()),
        FaultKind("bridge", "network", TargetShape.CLUSTER, frozenset()),
        FaultKind("one-way", "network", TargetShape.PROCESS, _PROCESS_OPTIONS),
        FaultKind(
            "latency", "network", TargetShape.PROCESS, _PROCESS_OPTIONS,
            {"latency_ms": _MILLISECONDS, "jitter_ms": _MILLISECONDS},
        ),
        FaultKind(
            "bandwidth", "network", TargetShape.PROCESS, _PROCESS_OPTIONS, {"rate_kilobytes_per_s": (1.0, 1e9)}
        ),
        FaultKind("bit-rot", "disk", TargetShape.PROCESS, _PROCESS_OPTIONS, {"items": (1.0, 1000.0)}),
        FaultKind("clock-skew", "clock", TargetShape.PROCESS, _PROCESS_OPTIONS, {"rate": CLOCK_RATE_RANGE}),
        # Every router's partition-metadata cache emptied at once, as a fleet-wide router restart would.
        FaultKind("cache-flush", "router", TargetShape.EVERY_ROUTER, frozenset()),
        # partition-node, one-way and latency (on one process's links) switched on and off every
        # flap_min_s..flap_max_s (flapping.py).
        FaultKind("flapping-partition", "network", TargetShape.PROCESS, _PROCESS_OPTIONS, _FLAP_PARAMETERS),
        FaultKind("flapping-one-way", "network", TargetShape.PROCESS, _PROCESS_OPTIONS, _FLAP_PARAMETERS),
        FaultKind(
            "flapping-latency", "network", TargetShape.PROCESS, _PROCESS_OPTIONS,
            {"latency_ms": _MILLISECONDS, "jitter_ms": _MILLISECONDS, **_FLAP_PARAMETERS},
        ),
        # For the whole fault, kill (or isolate) whichever process leads the group as soon as it leads;
        # each victim comes back after down_s (leader_churn.py).
        FaultKind("leader-churn", "process", TargetShape.LEADER, frozenset({"of", "by"}), {"down_s": (0.0, 60.0)}),
        # Round after round: a follower powered off while writes commit, then the leader off and the other
        # follower paused while the laggard campaigns alone (lagging_election.py). Needs allow_majority_loss.
        FaultKind(
            "lagging-election", "process", TargetShape.LEADER, frozenset({"of"}),
            {"lag_s": (0.1, 60.0), "hold_s": (0.1, 60.0)},
        ),
        # A seeded random subset of storage nodes powered off at once (within one AZ unless allow_majority_loss).
        FaultKind("kill-random-subset", "process", TargetShape.PROCESS_SUBSET, _PROCESS_OPTIONS),
        # One AZ's router killed between a transaction's prepare and its commit (coordinator_kill.py):
        # decided >= 0.5 after the ledger recorded the commit, below it before the ledger decided.
        FaultKind("kill-coordinator", "router", TargetShape.AVAILABILITY_ZONE, frozenset({"azs"}), {"decided": (0.0, 1.0)}),
        # Every link of whichever process leads the selected group cut (a transaction's participant
        # partitioned while it prepares; network_faults.py).
        FaultKind("partition-leader", "network", TargetShape.LEADER, frozenset({"of"})),
    )
}

# Which leader kill-leader aims at: a partition group's, a global secondary index partition's (during its
# backfill, say), the metadata group's, or the node leading most groups.
LEADER_TARGETS = ("partition", "index-partition", "metadata", "most-groups")
# How leader-churn takes a leader away: SIGKILL (power on after down_s), or cut its links (partition-node).
CHURN_METHODS = ("kill", "isolate")
# Roles an az-power-off may power off; a real AZ outage takes everything in it.
PROCESS_ROLES = ("node", "metadata", "router")
