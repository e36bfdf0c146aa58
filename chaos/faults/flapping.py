"""Flapping network faults: a partition, one-way cut or latency switched on and off for the fault's lifetime.

A link that comes and goes is what a bad cable, a flapping BGP route or an overloaded switch does, and
what a one-shot partition never shows: elections started and abandoned, connections that half-recover,
retries that land on a link that just went away again. Each on and each off phase lasts a draw from
[flap_min_s, flap_max_s] (0.2-1 s unless the scenario says otherwise) from the planned fault's own seed,
so a replay flaps in the same rhythm. The fault starts on; every toggle is a nemesis event
(`flap-on` / `flap-off`); heal leaves the link clean whatever phase it was in.

The links themselves are the network injectors' (network_faults.py): one toxic per spoiled stream,
named after this fault, so a heal removes exactly what this fault added.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from typing import Any

from chaos.faults.injector import NOTHING_TO_HEAL, FaultContext
from chaos.faults.network_faults import Latency, OneWay, PartitionNode, _LinkFault, isolate_process_streams
from chaos.network_links import LinkStream
from cluster.runtime.topology import Topology

DEFAULT_FLAP_MIN_S = 0.2
DEFAULT_FLAP_MAX_S = 1.0


def flap_bounds(target: Mapping[str, Any]) -> tuple[float, float]:
    """(shortest, longest) phase in seconds; a swapped pair is read in order rather than refused here
    (the scenario loader refuses it with the file and field)."""
    first = float(target.get("flap_min_s", DEFAULT_FLAP_MIN_S))
    second = float(target.get("flap_max_s", DEFAULT_FLAP_MAX_S))
    return min(first, second), max(first, second)


def flap_phases(seed: int, shortest_s: float, longest_s: float, count: int) -> list[float]:
    """The first `count` phase lengths a fault with this seed uses (on, off, on, ...): what a replay repeats."""
    rng = random.Random(seed)
    return [rng.uniform(shortest_s, longest_s) for _ in range(count)]


class _FlappingLinkFault:
    """Wraps one link fault (the `inner` injector) and toggles it on `tick`."""

    kind = ""
    inner_type: type[_LinkFault] = _LinkFault

    def __init__(self, target: Mapping[str, Any]) -> None:
        self.target = dict(target)
        self.inner = self.inner_type(self.target)
        # Toxic names carry this kind, so a leftover found by the sweep says which fault left it.
        self.inner.label = f"{self.kind}-{uuid.uuid4().hex[:8]}"
        self.shortest_s, self.longest_s = flap_bounds(self.target)
        self._rng = random.Random(int(self.target.get("seed", 0)))
        self.active = False
        self.on = False
        self.toggles = 0
        self.next_toggle_at = 0.0

    def _next_phase_s(self) -> float:
        return self._rng.uniform(self.shortest_s, self.longest_s)

    def start(self, context: FaultContext) -> dict[str, Any]:
        result = self.inner.start(context)
        self.active = self.on = True
        self.next_toggle_at = context.clock() + self._next_phase_s()
        return {**result, "flap_min_s": self.shortest_s, "flap_max_s": self.longest_s}

    def tick(self, context: FaultContext) -> list[dict[str, Any]]:
        now = context.clock()
        if not self.active or now < self.next_toggle_at:
            return []
        if self.on:
            self.inner.heal(context)
        else:
            self.inner.start(context)
        self.on = not self.on
        self.toggles += 1
        # From now, not from when the toggle was due: a late step must not bring a burst of toggles.
        self.next_toggle_at = now + self._next_phase_s()
        return [{"f": "flap-on" if self.on else "flap-off", "value": {"label": self.inner.label, "toggle": self.toggles}}]

    def heal(self, context: FaultContext) -> dict[str, Any]:
        if not self.active:
            return dict(NOTHING_TO_HEAL)
        # inner.heal is idempotent and retries what a failed removal left: safe in either phase.
        result = self.inner.heal(context)
        if not self.on:
            result = {"label": self.inner.label}
        self.active = self.on = False
        return {**result, "toggles": self.toggles}


class _ProcessLatency(Latency):
    """Latency on every link of one process (not its whole AZ's boundary, as `latency` does): a third of
    the toxics, so a toggle stays well inside a 0.2 s phase even on a busy machine."""

    def layout(self, topology: Topology) -> tuple[list[LinkStream], dict[str, Any]]:
        process_id = self.target["process_id"]
        description = {"process_ids": [process_id], "az": topology.get(process_id).az}
        return isolate_process_streams(topology, process_id), description


class FlappingPartition(_FlappingLinkFault):
    """partition-node, on and off: every link to and from one process."""

    kind = "flapping-partition"
    inner_type = PartitionNode


class FlappingOneWay(_FlappingLinkFault):
    """one-way, on and off: what one process sends is dropped, it still hears the others."""

    kind = "flapping-one-way"
    inner_type = OneWay


class FlappingLatency(_FlappingLinkFault):
    """latency, on and off: latency ± jitter on every link of one process."""

    kind = "flapping-latency"
    inner_type = _ProcessLatency


FLAPPING_INJECTORS: dict[str, type[_FlappingLinkFault]] = {
    injector.kind: injector for injector in (FlappingPartition, FlappingOneWay, FlappingLatency)
}
