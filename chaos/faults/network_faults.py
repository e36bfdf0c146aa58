"""Network faults through the cluster's Toxiproxy links: partitions, one-way cuts, latency, bandwidth.

Which link streams a fault spoils is a pure function of the topology and the planned target (the
`*_streams` and layout functions below), so it is unit-tested without a cluster. The injectors then add
one toxic per stream, each named `<kind>-<fault id>-<stream>`: two faults touching the same link each
heal only their own toxic.

Every injector needs a cluster started with `LocalCluster.up(..., proxy_links=True)`; without links
they refuse with NetworkLinksUnavailable instead of silently doing nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chaos.faults.injector import (
    NOTHING_TO_HEAL,
    FaultContext,
    FaultNotApplicable,
    leader_now,
    within_leader_wait,
)
from chaos.network_links import (
    LinkStream,
    ProxiedLinks,
    ToxiproxyApiError,
    directed_links,
    traffic_streams,
)
from cluster.runtime.topology import Topology

DEFAULT_LATENCY_MS = 100
DEFAULT_JITTER_MS = 25
DEFAULT_RATE_KILOBYTES_PER_S = 64
# Worded to follow a fault kind ("latency: needs Toxiproxy links ...") in the registry's refusal.
NO_LINKS_MESSAGE = (
    "needs Toxiproxy links in front of the cluster's connections, and this cluster has none: start it with "
    "LocalCluster.up(..., proxy_links=True) (or toxiproxy=URL of a running Toxiproxy 2.x)"
)


class NetworkLinksUnavailable(Exception):
    """The cluster was started without proxied links, so no network fault can be applied to it."""


def proxied_links_of(cluster: object) -> ProxiedLinks:
    """The cluster's ProxiedLinks, or NetworkLinksUnavailable naming what to do."""
    links_method = getattr(cluster, "links", None)
    links = links_method() if callable(links_method) else None
    if links is None:
        raise NetworkLinksUnavailable(f"network fault {NO_LINKS_MESSAGE}")
    return links


# ---- which streams each layout spoils (pure) -----------------------------------------------------------


def partition_streams(
    links: Iterable[tuple[str, str]], side_a: Iterable[str], side_b: Iterable[str]
) -> list[LinkStream]:
    """Every stream carrying bytes between the two sides, in either direction: a two-way partition."""
    links, side_a, side_b = list(links), list(side_a), list(side_b)
    return sorted(set(traffic_streams(links, side_a, side_b)) | set(traffic_streams(links, side_b, side_a)))


def _process_ids(topology: Topology, azs: Iterable[str] | None = None) -> list[str]:
    wanted = None if azs is None else set(azs)
    return [spec.process_id for spec in topology.processes if wanted is None or spec.az in wanted]


def isolate_process_streams(topology: Topology, process_id: str) -> list[LinkStream]:
    topology.get(process_id)  # an unknown id is a planning bug: fail loudly, not with an empty fault
    others = [other for other in _process_ids(topology) if other != process_id]
    return partition_streams(directed_links(topology), [process_id], others)


def isolate_az_streams(topology: Topology, az: str) -> list[LinkStream]:
    if az not in topology.azs:
        raise ValueError(f"no AZ {az!r} in the topology (AZs: {topology.azs})")
    inside = _process_ids(topology, [az])
    outside = [process_id for process_id in _process_ids(topology) if process_id not in inside]
    return partition_streams(directed_links(topology), inside, outside)


def minority_azs(azs: list[str], index: int) -> list[str]:
    """The smaller side of a majority/minority split of AZs (1 of 3, 2 of 5), rotated by `index`."""
    ordered = sorted(azs)
    size = max(1, (len(ordered) - 1) // 2)
    start = index % len(ordered)
    return [ordered[(start + offset) % len(ordered)] for offset in range(size)]


@dataclass(frozen=True)
class BridgeLayout:
    """Two sides that cannot talk to each other, and one process that talks to both (Jepsen's bridge)."""

    bridge: str
    side_a: list[str]
    side_b: list[str]


def bridge_layout(topology: Topology, index: int) -> BridgeLayout:
    """The bridge is a storage node chosen by `index`; the other AZs split in two, its AZ-mates join side A.

    With 3 AZs: {bridge} talks to all; {its AZ-mates, AZ x} and {AZ y} are cut from each other. A group
    with a replica on the bridge can keep a quorum with either side, which is what a bridge tests.
    """
    nodes = sorted(spec.process_id for spec in topology.by_role("node"))
    if not nodes:
        raise ValueError("a bridge needs at least one storage node")
    bridge = nodes[index % len(nodes)]
    azs = topology.azs
    bridge_az_position = azs.index(topology.get(bridge).az)
    other_azs = [azs[(bridge_az_position + offset) % len(azs)] for offset in range(1, len(azs))]
    half = max(1, len(other_azs) // 2)
    side_a = [p for p in _process_ids(topology, [azs[bridge_az_position], *other_azs[:half]]) if p != bridge]
    side_b = _process_ids(topology, other_azs[half:])
    return BridgeLayout(bridge, sorted(side_a), sorted(side_b))


def _resolve_processes(topology: Topology, name: str) -> list[str]:
    """A process id stands for itself; an AZ name for every process in it."""
    if name in topology.azs:
        return _process_ids(topology, [name])
    topology.get(name)
    return [name]


def one_way_layout(topology: Topology, target: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(senders, receivers) of a one-way cut.

    {"process_id": p} silences p towards everyone (it still hears them); add "to": a process or an AZ to
    narrow the receivers. {"from_az": A, "to_az": B} silences every process of A towards every one of B.
    """
    if "process_id" in target:
        senders = [target["process_id"]]
        topology.get(senders[0])
        receivers = (
            _resolve_processes(topology, target["to"])
            if target.get("to")
            else [process_id for process_id in _process_ids(topology) if process_id != senders[0]]
        )
    elif "from_az" in target and "to_az" in target:
        senders = _resolve_processes(topology, target["from_az"])
        receivers = _resolve_processes(topology, target["to_az"])
    else:
        raise ValueError(f"one-way needs a target with process_id, or from_az and to_az; got {dict(target)}")
    return senders, [receiver for receiver in receivers if receiver not in senders]


def az_boundary_sides(topology: Topology, target: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """For latency and bandwidth: {"azs": [A, B]} is between two AZs; else the target's AZ against the rest."""
    if target.get("azs"):
        first, second = target["azs"]
        return _process_ids(topology, [first]), _process_ids(topology, [second])
    az = target.get("az") or topology.get(target["process_id"]).az
    inside = _process_ids(topology, [az])
    return inside, [process_id for process_id in _process_ids(topology) if process_id not in inside]


# ---- injectors ----------------------------------------------------------------------------------------




class _LinkFault:
    """Adds one toxic per spoiled stream at start, removes exactly those at heal."""

    kind = ""
    toxic_type = ""

    def __init__(self, target: Mapping[str, Any]) -> None:
        self.target = dict(target)
        # Unique per fault so that concurrent faults on one link never remove each other's toxics.
        self.label = f"{self.kind}-{uuid.uuid4().hex[:8]}"
        self.applied: list[LinkStream] = []

    def layout(self, topology: Topology) -> tuple[list[LinkStream], dict[str, Any]]:
        raise NotImplementedError

    def attributes(self) -> dict[str, int]:
        raise NotImplementedError

    def toxic_name(self, link: LinkStream) -> str:
        return f"{self.label}-{link.stream}"

    def start(self, context: FaultContext) -> dict[str, Any]:
        links = proxied_links_of(context.cluster)
        streams, description = self.layout(links.topology)
        if not streams:
            raise FaultNotApplicable(f"{self.kind} {self.target}: no proxied link to spoil")
        attributes = self.attributes()
        for link in streams:
            links.add_toxic(link, self.toxic_name(link), self.toxic_type, attributes)
            # Recorded one by one: if the API fails half-way, heal still removes what was added.
            self.applied.append(link)
        return {
            **description,
            "toxic": self.toxic_type,
            "attributes": attributes,
            "label": self.label,
            "links": [link.describe() for link in streams],
        }

    def heal(self, context: FaultContext) -> dict[str, Any]:
        if not self.applied:
            return dict(NOTHING_TO_HEAL)
        links = proxied_links_of(context.cluster)
        healed, failed, errors = [], [], []
        for link in self.applied:
            try:
                links.remove_toxic(link.proxy, self.toxic_name(link))
                healed.append(link)
            except ToxiproxyApiError as error:
                failed.append(link)
                errors.append(str(error))
        # What could not be removed stays listed, so a second heal tries again instead of forgetting it.
        self.applied = failed
        if failed:
            raise ToxiproxyApiError(f"{self.label}: {len(failed)} toxic(s) not removed: {errors[0]}")
        return {"label": self.label, "links": [link.describe() for link in healed]}


class _CutFault(_LinkFault):
    toxic_type = "timeout"

    def attributes(self) -> dict[str, int]:
        return {"timeout": 0}  # 0: drop every byte and never close, as a black-holed route does


class PartitionNode(_CutFault):
    """Cuts every link to and from one process."""

    kind = "partition-node"

    def layout(self, topology: Topology) -> tuple[list[LinkStream], dict[str, Any]]:
        process_id = self.target["process_id"]
        description = {"process_ids": [process_id], "az": topology.get(process_id).az}
        return isolate_process_streams(topology, process_id), description


class PartitionLeader(PartitionNode):
    """Cuts every link of whichever process leads the selected group when the fault starts."""

    kind = "partition-leader"

    def start(self, context: FaultContext) -> dict[str, Any]:
        process_id, group = within_leader_wait(
            context, lambda: leader_now(context, self.target), f"nobody leads {self.target.get('of')}"
        )
        self.target["process_id"] = process_id
        return {**super().start(context), "of": self.target.get("of"), "group": group}


class PartitionAz(_CutFault):
    """Cuts every link crossing one AZ's boundary."""

    kind = "partition-az"

    def layout(self, topology: Topology) -> tuple[list[LinkStream], dict[str, Any]]:
        az = self.target["az"]
        return isolate_az_streams(topology, az), {"az": az, "process_ids": _process_ids(topology, [az])}


class PartitionMajority(_CutFault):
    """Splits the AZs into a majority and a minority (2|1 with 3 AZs); the minority is chosen by index."""

    kind = "partition-majority"

    def layout(self, topology: Topology) -> tuple[list[LinkStream], dict[str, Any]]:
        minority = minority_azs(topology.azs, int(self.target.get("index", 0)))
        majority = [az for az in topology.azs if az not in minority]
        streams = partition_streams(
            directed_links(topology), _process_ids(topology, minority), _process_ids(topology, majority)
        )
        return streams, {"minority_azs": minority, "majority_azs": majority}


class Bridge(_CutFault):
    """Two sides joined only through one process."""

    kind = "bridge"

    def layout(self, topology: Topology) -> tuple[list[LinkStream], dict[str, Any]]:
        bridge = bridge_layout(topology, int(self.target.get("index", 0)))
        streams = partition_streams(directed_links(topology), bridge.side_a, bridge.side_b)
        return streams, {"bridge": bridge.bridge, "side_a": bridge.side_a, "side_b": bridge.side_b}


class OneWay(_CutFault):
    """Drops the bytes the senders send to the receivers; the other direction still flows."""

    kind = "one-way"

    def layout(self, topology: Topology) -> tuple[list[LinkStream], dict[str, Any]]:
        senders, receivers = one_way_layout(topology, self.target)
        streams = traffic_streams(directed_links(topology), senders, receivers)
        return streams, {"senders": senders, "receivers": receivers}


class Latency(_LinkFault):
    """Adds latency ± jitter to each direction between an AZ and the rest (or between two AZs)."""

    kind = "latency"
    toxic_type = "latency"

    def attributes(self) -> dict[str, int]:
        return {
            "latency": int(self.target.get("latency_ms", DEFAULT_LATENCY_MS)),
            "jitter": int(self.target.get("jitter_ms", DEFAULT_JITTER_MS)),
        }

    def layout(self, topology: Topology) -> tuple[list[LinkStream], dict[str, Any]]:
        side_a, side_b = az_boundary_sides(topology, self.target)
        return partition_streams(directed_links(topology), side_a, side_b), {"side_a": side_a, "side_b": side_b}


class Bandwidth(_LinkFault):
    """Limits each direction between an AZ and the rest (or between two AZs) to a rate in KB/s."""

    kind = "bandwidth"
    toxic_type = "bandwidth"

    def attributes(self) -> dict[str, int]:
        return {"rate": int(self.target.get("rate_kilobytes_per_s", DEFAULT_RATE_KILOBYTES_PER_S))}

    def layout(self, topology: Topology) -> tuple[list[LinkStream], dict[str, Any]]:
        side_a, side_b = az_boundary_sides(topology, self.target)
        return partition_streams(directed_links(topology), side_a, side_b), {"side_a": side_a, "side_b": side_b}


NETWORK_INJECTORS: dict[str, type[_LinkFault]] = {
    injector.kind: injector
    for injector in (PartitionNode, PartitionLeader, PartitionAz, PartitionMajority, Bridge, OneWay, Latency, Bandwidth)
}
