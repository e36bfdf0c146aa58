"""Small helpers shared by the core tests: build a simulated group and wait for a leader."""

from __future__ import annotations

from cluster.core.config import RaftConfig
from cluster.core.replica import Replica
from cluster.core.simulation import NetworkFaults, Simulation

NODES = ("a", "b", "c")


def started_cluster(
    seed: int = 1, *, nodes: tuple[str, ...] = NODES, config: RaftConfig | None = None, faults: NetworkFaults | None = None,
    check_invariants: bool = True,
) -> tuple[Simulation, Replica]:
    """A simulation whose leader has committed its no-op (so it holds a lease and takes proposals)."""
    simulation = Simulation(nodes, seed=seed, config=config, faults=faults, check_invariants=check_invariants)
    simulation.run_until(lambda: simulation.is_converged() and simulation.leader() is not None, 300)
    leader = simulation.leader()
    assert leader is not None
    return simulation, leader


def replica_of(simulation: Simulation, node_id: str) -> Replica:
    replica = simulation.nodes[node_id].replica
    assert replica is not None
    return replica
