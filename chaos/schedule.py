"""The fault scheduler: a pure function of (fault phase, seed, nodes) to a timeline of planned faults.

Like a Jepsen generator with explicit time: no clock, no I/O and no global `random` here, so a seed
printed at the start of a run replays exactly the same schedule. Targets the topology decides (which
node, which AZ) are concrete in the plan; targets only the live cluster knows (who leads a group) are
selectors resolved when the fault is applied.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chaos.faults.kinds import FAULT_KINDS, TargetShape
from cluster.runtime.topology import Topology

# A selector index is drawn from this range and taken modulo the number of groups at apply time:
# the plan must not depend on how many partitions the live cluster happens to have.
SELECTOR_INDEX_RANGE = 1_000_000
# Kinds whose injector draws randomly (which items rot, when a link flaps): each planned fault carries
# its own seed.
SEEDED_KINDS = frozenset({"bit-rot", "flapping-partition", "flapping-one-way", "flapping-latency", "lagging-election"})


class ScheduleError(Exception):
    """The phase cannot be planned on these nodes (e.g. its target options name AZs that do not exist)."""


@dataclass(frozen=True)
class TargetOptions:
    """Per-kind narrowing of targets, from [faults.targets.<kind>] in a scenario. Empty means any."""

    azs: tuple[str, ...] = ()
    leader_of: tuple[str, ...] = ("partition",)
    roles: tuple[str, ...] = ("node",)
    processes: tuple[str, ...] = ()  # exactly these processes (e.g. "node-a1"); empty means any
    by: tuple[str, ...] = ("kill",)  # leader-churn: how a leader is taken away (kinds.CHURN_METHODS)
    # How hard the fault hits (FaultKind.parameters: latency_ms, rate, items...); copied into each target.
    parameters: Mapping[str, float] = field(default_factory=dict)
    # This kind's own (minimum, maximum) length, instead of the phase's: a kind whose bug needs time to show
    # (a deposed leader is seen only after the majority elected and wrote) beside brief ones.
    fault_duration_s: tuple[float, float] | None = None


@dataclass(frozen=True)
class FaultPhase:
    duration_s: float
    interval_s: float  # between the starts of consecutive faults
    fault_duration_s: tuple[float, float]  # (minimum, maximum) of one fault, drawn uniformly
    mix: Mapping[str, float]  # fault kind -> relative weight
    targets: Mapping[str, TargetOptions] = field(default_factory=dict)
    max_concurrent_faults: int = 1
    # Without this, concurrent faults stay inside one AZ: a group has one replica per AZ, so losing
    # two AZs at once takes down a majority of some group, which a game day must ask for explicitly.
    allow_majority_loss: bool = False

    def options_for(self, kind: str) -> TargetOptions:
        return self.targets.get(kind, TargetOptions())

    def duration_bounds(self, kind: str) -> tuple[float, float]:
        return self.options_for(kind).fault_duration_s or self.fault_duration_s

    @property
    def shortest_fault_s(self) -> float:
        return min([self.fault_duration_s[0], *(self.duration_bounds(kind)[0] for kind in self.mix)])

    @property
    def longest_fault_s(self) -> float:
        return max([self.fault_duration_s[1], *(self.duration_bounds(kind)[1] for kind in self.mix)])


@dataclass(frozen=True)
class NodeRef:
    process_id: str
    az: str


@dataclass(frozen=True)
class PlannedFault:
    start_s: float
    heal_s: float
    kind: str
    target: dict[str, Any]

    @property
    def duration_s(self) -> float:
        return self.heal_s - self.start_s


def nodes_from_topology(topology: Topology, roles: Sequence[str] = ("node",)) -> list[NodeRef]:
    return [NodeRef(spec.process_id, spec.az) for spec in topology.processes if spec.role in roles]


@dataclass(frozen=True)
class _Footprint:
    """What a planned fault is known to touch: a set of AZs and processes, or None when unknown."""

    azs: frozenset[str] | None
    process_ids: frozenset[str] = frozenset()
    exclusive: bool = False  # nothing else may run beside it (a whole-cluster power outage)


def _footprint(kind: str, target: Mapping[str, Any]) -> _Footprint:
    shape = FAULT_KINDS[kind].target_shape
    if shape is TargetShape.PROCESS:
        return _Footprint(frozenset({target["az"]}), frozenset({target["process_id"]}))
    if shape is TargetShape.PROCESS_SUBSET:
        return _Footprint(frozenset(target["azs"]), frozenset(target["process_ids"]))
    if shape is TargetShape.AVAILABILITY_ZONE:
        return _Footprint(frozenset({target["az"]}))
    if shape is TargetShape.EVERY_NODE:
        return _Footprint(None, frozenset(target["process_ids"]), exclusive=True)
    if shape is TargetShape.EVERY_ROUTER:
        return _Footprint(frozenset())  # no process down, no AZ cut: it narrows nothing beside it
    return _Footprint(None)


def _weighted_kind(rng: random.Random, mix: Mapping[str, float]) -> str:
    kinds = sorted(mix)  # sorted: the draw must not depend on the order a TOML file listed the kinds
    return rng.choices(kinds, weights=[mix[kind] for kind in kinds])[0]


def _choose_target(
    kind: str,
    options: TargetOptions,
    rng: random.Random,
    nodes: Sequence[NodeRef],
    active: Sequence[_Footprint],
    allow_majority_loss: bool,
) -> dict[str, Any] | None:
    """A target compatible with the active faults, or None when this kind must wait for a heal."""
    shape = FAULT_KINDS[kind].target_shape
    candidates = [
        node for node in nodes
        if (not options.azs or node.az in options.azs)
        and (not options.processes or node.process_id in options.processes)
    ]
    if shape in (TargetShape.PROCESS, TargetShape.PROCESS_SUBSET, TargetShape.AVAILABILITY_ZONE) and not candidates:
        wanted = f"AZs {list(options.azs)}" if options.azs else ""
        wanted += (" and " if wanted else "") + (f"processes {list(options.processes)}" if options.processes else "")
        raise ScheduleError(f"{kind}: no node in {wanted} (nodes: {sorted(n.process_id for n in nodes)})")
    if shape is TargetShape.EVERY_NODE or any(footprint.exclusive for footprint in active):
        # A whole-cluster outage overlaps nothing, even when majority loss is allowed: beside it a
        # second fault would change nothing but the record of what caused what.
        if active:
            return None
        if shape is TargetShape.EVERY_NODE:
            return {"process_ids": sorted(node.process_id for node in nodes)}
    if shape is TargetShape.EVERY_ROUTER:
        return {"routers": "all"}  # which routers the live topology has is resolved at apply time
    busy_processes = set().union(*(footprint.process_ids for footprint in active))
    # A fault that touches no AZ (cache-flush) does not confine the next one to its AZs.
    active = [footprint for footprint in active if footprint.azs != frozenset() or footprint.process_ids]
    allowed_azs: set[str] | None = None  # None: any AZ
    if active and not allow_majority_loss:
        if any(footprint.azs is None for footprint in active) or shape in (TargetShape.LEADER, TargetShape.CLUSTER):
            return None
        allowed_azs = set().union(*(footprint.azs or frozenset() for footprint in active))
    if shape is TargetShape.PROCESS:
        free = [
            node for node in candidates
            if node.process_id not in busy_processes and (allowed_azs is None or node.az in allowed_azs)
        ]
        if not free:
            return None
        node = rng.choice(sorted(free, key=lambda ref: ref.process_id))
        return {"process_id": node.process_id, "az": node.az}
    if shape is TargetShape.PROCESS_SUBSET:
        return _choose_subset(candidates, len(nodes), busy_processes, allowed_azs, allow_majority_loss, rng)
    if shape is TargetShape.AVAILABILITY_ZONE:
        azs = sorted({node.az for node in candidates if allowed_azs is None or node.az in allowed_azs})
        if not azs:
            return None
        target: dict[str, Any] = {"az": rng.choice(azs)}
        if "roles" in FAULT_KINDS[kind].option_keys:
            target["roles"] = list(options.roles)
        return target
    if shape is TargetShape.LEADER:
        of = rng.choice(sorted(options.leader_of))
        target = {"of": of}
        if of in ("partition", "index-partition"):
            target["index"] = rng.randrange(SELECTOR_INDEX_RANGE)
        if "by" in FAULT_KINDS[kind].option_keys:  # drawn only for kinds that take it: older plans replay as before
            target["by"] = rng.choice(sorted(options.by))
        return target
    return {"index": rng.randrange(SELECTOR_INDEX_RANGE)}


def _choose_subset(
    candidates: Sequence[NodeRef],
    node_count: int,
    busy_processes: set[str],
    allowed_azs: set[str] | None,
    allow_majority_loss: bool,
    rng: random.Random,
) -> dict[str, Any] | None:
    """A random non-empty subset of free nodes: inside one AZ (every group keeps 2 of its 3 replicas,
    one per AZ), or, with majority loss allowed, across AZs but never every node (cluster-power-off is that)."""
    free = sorted(
        (node for node in candidates if node.process_id not in busy_processes and (allowed_azs is None or node.az in allowed_azs)),
        key=lambda ref: ref.process_id,
    )
    if not allow_majority_loss:
        azs = sorted({node.az for node in free})
        if not azs:
            return None
        az = rng.choice(azs)
        free = [node for node in free if node.az == az]
        largest = len(free)
    else:
        largest = min(len(free), node_count - 1)
    if largest < 1:
        return None
    chosen = sorted(rng.sample(free, rng.randint(1, largest)), key=lambda ref: ref.process_id)
    return {"process_ids": [node.process_id for node in chosen], "azs": sorted({node.az for node in chosen})}


def plan_faults(phase: FaultPhase, seed: int, nodes: Sequence[NodeRef], start_s: float) -> list[PlannedFault]:
    """Every fault of the phase, in start order; each heals within the phase (start_s + duration_s).

    A new fault is due every `interval_s`; it waits for a heal when `max_concurrent_faults` are active
    or when it could not run beside them without touching a second AZ. The first faults cover every
    kind of the mix once (in a seeded order), so a short run still exercises each kind it names;
    later ones are drawn by weight.
    """
    unknown = sorted(kind for kind in phase.mix if kind not in FAULT_KINDS)
    if unknown:
        raise ScheduleError(f"unknown fault kinds {unknown}")
    if not phase.mix:
        raise ScheduleError("empty fault mix")
    nodes = sorted(nodes, key=lambda ref: ref.process_id)  # the caller's order must not change the plan
    rng = random.Random(seed)
    end_s = start_s + phase.duration_s
    shortest_s = phase.shortest_fault_s
    plan: list[PlannedFault] = []
    active: list[tuple[float, _Footprint]] = []  # (heal_s, footprint)
    now_s = start_s
    uncovered = sorted(phase.mix)
    rng.shuffle(uncovered)
    # Bounded: each iteration either plans a fault (then time moves by interval_s) or waits for a heal.
    while now_s + shortest_s <= end_s:
        active = [(heal_s, footprint) for heal_s, footprint in active if heal_s > now_s]
        kind = uncovered[0] if uncovered else _weighted_kind(rng, phase.mix)
        duration_s = min(rng.uniform(*phase.duration_bounds(kind)), end_s - now_s)
        target = None
        if len(active) < phase.max_concurrent_faults:
            target = _choose_target(
                kind, phase.options_for(kind), rng, nodes, [fp for _, fp in active], phase.allow_majority_loss
            )
        if target is None:
            if not active:
                raise ScheduleError(f"{kind}: no target even with no fault active")
            now_s = min(heal_s for heal_s, _ in active)
            continue
        target.update(phase.options_for(kind).parameters)
        if kind in SEEDED_KINDS:
            # Two faults of this kind on one node must differ, and a replay must repeat each exactly.
            target["seed"] = rng.randrange(2**31)
        fault = PlannedFault(round(now_s, 3), round(now_s + duration_s, 3), kind, target)
        if uncovered and uncovered[0] == kind:
            uncovered.pop(0)
        plan.append(fault)
        active.append((fault.heal_s, _footprint(kind, target)))
        now_s += phase.interval_s
    return plan


def describe_target(kind: str, target: Mapping[str, Any]) -> str:
    where = _describe_where(target)
    settings = [f"{name}={target[name]:g}" for name in sorted(FAULT_KINDS[kind].parameters) if name in target]
    return " ".join([where, *settings]) if settings else where


def _describe_where(target: Mapping[str, Any]) -> str:
    if target.get("routers") == "all":
        return "every router's partition-metadata cache"
    if "process_ids" in target and "azs" in target:
        return f"{', '.join(target['process_ids'])} at once ({', '.join(target['azs'])})"
    if "process_ids" in target:
        return f"every storage node at once ({len(target['process_ids'])})"
    if "process_id" in target:
        return f"{target['process_id']} ({target['az']})"
    if "az" in target:
        roles = f" [{', '.join(target['roles'])}]" if "roles" in target else ""
        return f"every process of {target['az']}{roles}"
    if "of" in target:
        by = f" (by {target['by']})" if "by" in target else ""
        if target["of"] in ("partition", "index-partition"):
            kind = "partition" if target["of"] == "partition" else "index partition"
            return f"leader of {kind} group #{target['index']} (modulo groups at apply time){by}"
        if target["of"] == "metadata":
            return f"leader of the metadata group{by}"
        return f"node leading the most groups{by}"
    return f"layout #{target.get('index')} (resolved at apply time)"


def format_plan(plan: Sequence[PlannedFault], seed: int | None = None) -> str:
    """The timeline printed at the start of a run, so a reader can line up faults with the history."""
    header = f"fault schedule: {len(plan)} fault(s)" + (f", seed {seed}" if seed is not None else "")
    if not plan:
        return header + "\n  (no faults fit in the fault phase)"
    width = max(len(fault.kind) for fault in plan)
    lines = [header]
    for number, fault in enumerate(plan, start=1):
        lines.append(
            f"  {number:>3}. {fault.start_s:8.1f}s -> {fault.heal_s:8.1f}s  ({fault.duration_s:5.1f}s)  "
            f"{fault.kind:<{width}}  {describe_target(fault.kind, fault.target)}"
        )
    return "\n".join(lines)
