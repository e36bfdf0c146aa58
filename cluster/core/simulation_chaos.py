"""Seeded random fault schedules for the Simulation: crashes, partitions, lossy links, transfers.

A run injects faults while a client proposes, then heals everything and demands convergence: safety is
checked continuously by the SafetyMonitor, liveness by the bounded convergence at the end.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from cluster.core.config import RaftConfig
from cluster.core.simulation import CrashPoint, NetworkFaults, Simulation


@dataclass(frozen=True)
class ChaosSettings:
    node_count: int = 3
    steps: int = 1200
    proposal_probability: float = 0.3
    crash_probability: float = 0.005
    restart_probability: float = 0.05
    lose_state_machine_probability: float = 0.3
    partition_probability: float = 0.01
    heal_probability: float = 0.02
    transfer_probability: float = 0.003
    # Per step: one live replica snapshots its state machine and compacts its log through what it applied.
    compaction_probability: float = 0.0
    faults: NetworkFaults = field(
        default_factory=lambda: NetworkFaults(
            drop_probability=0.05, duplicate_probability=0.03, delay_steps_min=1, delay_steps_max=4
        )
    )
    config: RaftConfig = field(default_factory=RaftConfig)
    # After healing, the cluster must converge within this many steps on a clean network.
    convergence_bound_steps: int = 400


@dataclass
class ChaosReport:
    seed: int
    proposals: int = 0
    committed_entries: int = 0
    terms: int = 0
    crashes: int = 0
    partitions: int = 0
    transfers: int = 0
    lease_reads_checked: int = 0
    messages_sent: int = 0
    compactions: int = 0
    snapshots_sent: int = 0


def run_chaos(seed: int, settings: ChaosSettings | None = None) -> ChaosReport:
    settings = settings if settings is not None else ChaosSettings()
    node_ids = [f"n{number}" for number in range(settings.node_count)]
    simulation = Simulation(node_ids, seed=seed, config=settings.config, faults=settings.faults)
    chaos_rng = random.Random(seed * 7919 + 17)
    report = ChaosReport(seed=seed)
    minority = (settings.node_count - 1) // 2
    for _ in range(settings.steps):
        _inject_faults(simulation, chaos_rng, settings, report, minority)
        if chaos_rng.random() < settings.proposal_probability:
            for _ in range(chaos_rng.randint(1, 3)):
                if simulation.propose(f"{seed}:{report.proposals}".encode()) is not None:
                    report.proposals += 1
        simulation.step()

    simulation.heal()
    simulation.faults = NetworkFaults()
    for node_id, node in simulation.nodes.items():
        node.pending_crash = None
        if not node.alive:
            simulation.restart(node_id)
    # A leadership transfer may still be pending (it refuses proposals until it completes or aborts).
    simulation.run_until(lambda: _converged_without_transfer(simulation), settings.convergence_bound_steps)
    # The healed cluster still takes writes.
    proposed = simulation.propose(b"final")
    assert proposed is not None, f"seed {seed}: converged cluster refused a proposal"
    simulation.run_until(
        lambda: simulation.is_converged() and all(len(node.applied) >= proposed[1] for node in simulation.nodes.values()),
        settings.convergence_bound_steps,
    )
    monitor = simulation.monitor
    assert monitor is not None
    monitor.check_final_agreement()
    report.committed_entries = len(monitor.committed)
    report.terms = len(monitor.leader_of_term)
    report.lease_reads_checked = monitor.lease_reads_checked
    report.messages_sent = simulation.messages_sent
    report.snapshots_sent = simulation.snapshots_sent
    return report


def _converged_without_transfer(simulation: Simulation) -> bool:
    leader = simulation.leader()
    return leader is not None and leader.transfer_target is None and simulation.is_converged()


def _inject_faults(
    simulation: Simulation, chaos_rng: random.Random, settings: ChaosSettings, report: ChaosReport, minority: int
) -> None:
    node_ids = list(simulation.node_ids)
    down = [node_id for node_id in node_ids if not simulation.nodes[node_id].alive]
    doomed = [node_id for node_id in node_ids if simulation.nodes[node_id].pending_crash is not None]
    if len(down) + len(doomed) < minority and chaos_rng.random() < settings.crash_probability:
        victim = chaos_rng.choice([node_id for node_id in node_ids if node_id not in down and node_id not in doomed])
        point = chaos_rng.choice([None, *CrashPoint])
        simulation.crash(victim, point)
        report.crashes += 1
    for node_id in down:
        if chaos_rng.random() < settings.restart_probability:
            simulation.restart(node_id, lose_state_machine=chaos_rng.random() < settings.lose_state_machine_probability)
    if chaos_rng.random() < settings.partition_probability:
        report.partitions += 1
        if chaos_rng.random() < 0.5:
            shuffled = node_ids[:]
            chaos_rng.shuffle(shuffled)
            cut = chaos_rng.randint(1, len(shuffled) - 1)
            simulation.partition(shuffled[:cut], shuffled[cut:])
        else:
            sender, recipient = chaos_rng.sample(node_ids, 2)
            simulation.cut_one_way(sender, recipient)
    if simulation.blocked_links and chaos_rng.random() < settings.heal_probability:
        simulation.heal()
    if settings.compaction_probability and chaos_rng.random() < settings.compaction_probability:
        compactable = [
            node_id
            for node_id, node in simulation.nodes.items()
            if node.replica is not None
            and node.replica.applied_index > (node.durable_snapshot.index if node.durable_snapshot else 0)
            and node.replica.applied_index <= node.replica.persisted_index
        ]
        if compactable:
            simulation.compact(chaos_rng.choice(compactable))
            report.compactions += 1
    if chaos_rng.random() < settings.transfer_probability:
        leader = simulation.leader()
        if leader is not None:
            target = chaos_rng.choice([node_id for node_id in node_ids if node_id != leader.node_id])
            leader.transfer_leadership(target)
            report.transfers += 1
