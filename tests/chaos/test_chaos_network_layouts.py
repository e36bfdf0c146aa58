"""Which links exist and which streams each network fault spoils: pure functions of the topology, no I/O."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from chaos.faults.injector import FaultContext
from chaos.faults.leaders import LeaderView
from chaos.faults.network_faults import (
    NETWORK_INJECTORS,
    NetworkLinksUnavailable,
    bridge_layout,
    isolate_az_streams,
    isolate_process_streams,
    minority_azs,
    one_way_layout,
    partition_streams,
)
from chaos.faults.registry import UnsupportedFaultError, default_registry
from chaos.network_links import DOWNSTREAM, STREAMS, UPSTREAM, LinkStream, directed_links, proxy_name
from chaos.schedule import FaultPhase, nodes_from_topology, plan_faults
from cluster.deploy.local_processes import LocalCluster
from cluster.runtime.topology import ProcessSpec, Topology

NETWORK_KINDS = ["partition-node", "partition-az", "partition-majority", "bridge", "one-way", "latency", "bandwidth"]


def _topology() -> Topology:
    """The default shape (3 AZs x 2 nodes, a metadata replica and a router per AZ) with fixed ports."""
    processes = []
    port = 20000
    for letter in "abc":
        az = f"az-{letter}"
        for role, process_id in (("node", f"node-{letter}1"), ("node", f"node-{letter}2"),
                                 ("metadata", f"meta-{letter}"), ("router", f"router-{letter}")):
            port += 1
            processes.append(ProcessSpec(process_id, role, az, "127.0.0.1", port))
    return Topology(processes)


TOPOLOGY = _topology()
ROLE = {spec.process_id: spec.role for spec in TOPOLOGY.processes}
AZ = {spec.process_id: spec.az for spec in TOPOLOGY.processes}


def _links_of(streams: list[LinkStream]) -> set[tuple[str, str]]:
    return {(stream.source, stream.target) for stream in streams}


def test_directed_links_of_three_azs_with_two_nodes_each() -> None:
    links = directed_links(TOPOLOGY)
    by_roles = Counter((ROLE[source], ROLE[target]) for source, target in links)
    assert by_roles == {
        ("router", "node"): 3 * 6,
        ("router", "metadata"): 3 * 3,
        ("node", "node"): 6 * 5,
        ("node", "metadata"): 6 * 3,
        ("metadata", "metadata"): 3 * 2,
    }
    assert len(links) == len(set(links)) == 81
    assert all(source != target for source, target in links)
    assert proxy_name("node-a1", "node-b2") == "node-a1--node-b2"


def test_isolating_a_node_spoils_both_streams_of_every_link_touching_it_and_nothing_else() -> None:
    streams = isolate_process_streams(TOPOLOGY, "node-a1")
    touching = {link for link in directed_links(TOPOLOGY) if "node-a1" in link}
    assert len(touching) == 3 + 5 + 5 + 3  # routers and nodes to it; it to nodes and metadata
    assert _links_of(streams) == touching
    assert Counter(stream.stream for stream in streams) == {UPSTREAM: 16, DOWNSTREAM: 16}


def test_isolating_an_az_cuts_exactly_the_links_crossing_its_boundary() -> None:
    streams = isolate_az_streams(TOPOLOGY, "az-a")
    assert all((AZ[stream.source] == "az-a") != (AZ[stream.target] == "az-a") for stream in streams)
    # Counted by hand: routers 6 out + 6 in, nodes to nodes 8 + 8, nodes to metadata 4 + 4, metadata 2 + 2.
    assert len(_links_of(streams)) == 40 and len(streams) == 80
    assert ("router-a", "node-a1") not in _links_of(streams) and ("node-a1", "node-a2") not in _links_of(streams)


def test_majority_minority_splits_azs_two_to_one_rotated_by_index() -> None:
    azs = ["az-a", "az-b", "az-c"]
    assert [minority_azs(azs, index) for index in range(4)] == [["az-a"], ["az-b"], ["az-c"], ["az-a"]]
    assert minority_azs(["az-a", "az-b", "az-c", "az-d", "az-e"], 3) == ["az-d", "az-e"]
    injector = NETWORK_INJECTORS["partition-majority"]({"index": 1})
    streams, description = injector.layout(TOPOLOGY)
    assert description == {"minority_azs": ["az-b"], "majority_azs": ["az-a", "az-c"]}
    assert streams == isolate_az_streams(TOPOLOGY, "az-b")


def test_bridge_leaves_one_node_talking_to_two_sides_that_cannot_talk() -> None:
    layout = bridge_layout(TOPOLOGY, 0)
    assert layout.bridge == "node-a1"
    assert layout.side_a == ["meta-a", "meta-b", "node-a2", "node-b1", "node-b2", "router-a", "router-b"]
    assert layout.side_b == ["meta-c", "node-c1", "node-c2", "router-c"]
    streams, _ = NETWORK_INJECTORS["bridge"]({"index": 0}).layout(TOPOLOGY)
    cut = _links_of(streams)
    assert not any("node-a1" in link for link in cut)
    assert {("node-b1", "node-c1"), ("node-c1", "node-b1"), ("router-c", "node-a2")} <= cut
    assert ("node-a2", "node-b1") not in cut and ("node-c1", "node-a1") not in cut
    assert all(stream.stream in STREAMS for stream in streams) and len(streams) == 2 * len(cut)


def test_one_way_silences_the_sender_but_lets_it_hear() -> None:
    senders, receivers = one_way_layout(TOPOLOGY, {"process_id": "node-a1", "az": "az-a"})
    assert senders == ["node-a1"] and "node-a1" not in receivers and len(receivers) == 11
    streams, _ = NETWORK_INJECTORS["one-way"]({"process_id": "node-a1", "az": "az-a"}).layout(TOPOLOGY)
    # Its own messages, and its answers on connections others opened to it, are dropped...
    assert LinkStream("node-a1", "node-b1", UPSTREAM) in streams
    assert LinkStream("router-b", "node-a1", DOWNSTREAM) in streams
    # ...while what the others send it still arrives.
    assert LinkStream("node-b1", "node-a1", UPSTREAM) not in streams
    assert LinkStream("router-b", "node-a1", UPSTREAM) not in streams
    assert LinkStream("node-a1", "meta-b", DOWNSTREAM) not in streams
    two_way = isolate_process_streams(TOPOLOGY, "node-a1")
    assert set(streams) < set(two_way) and len(streams) == len(two_way) // 2


def test_one_way_between_two_azs_and_towards_one_process() -> None:
    senders, receivers = one_way_layout(TOPOLOGY, {"from_az": "az-a", "to_az": "az-b"})
    assert set(senders) == {"node-a1", "node-a2", "meta-a", "router-a"}
    assert set(receivers) == {"node-b1", "node-b2", "meta-b", "router-b"}
    streams = NETWORK_INJECTORS["one-way"]({"process_id": "node-a1", "to": "node-b1"}).layout(TOPOLOGY)[0]
    assert streams == [LinkStream("node-a1", "node-b1", UPSTREAM), LinkStream("node-b1", "node-a1", DOWNSTREAM)]
    with pytest.raises(ValueError, match="one-way needs"):
        one_way_layout(TOPOLOGY, {"index": 3})


@pytest.mark.parametrize("kind", ["latency", "bandwidth"])
def test_latency_and_bandwidth_apply_across_the_target_az_boundary(kind: str) -> None:
    injector = NETWORK_INJECTORS[kind]({"process_id": "node-b2", "az": "az-b"})
    streams, _ = injector.layout(TOPOLOGY)
    assert streams == isolate_az_streams(TOPOLOGY, "az-b")
    between = NETWORK_INJECTORS[kind]({"azs": ["az-a", "az-c"]}).layout(TOPOLOGY)[0]
    assert all({AZ[stream.source], AZ[stream.target]} == {"az-a", "az-c"} for stream in between)
    assert injector.toxic_type == kind


def test_partition_streams_is_symmetric() -> None:
    links = directed_links(TOPOLOGY)
    assert partition_streams(links, ["node-a1"], ["node-b1"]) == partition_streams(links, ["node-b1"], ["node-a1"])


def test_every_target_the_scheduler_plans_for_network_kinds_has_a_non_empty_layout() -> None:
    phase = FaultPhase(duration_s=400, interval_s=10, fault_duration_s=(2, 5), mix=dict.fromkeys(NETWORK_KINDS, 1.0))
    plan = plan_faults(phase, seed=7, nodes=nodes_from_topology(TOPOLOGY), start_s=0)
    assert {fault.kind for fault in plan} == set(NETWORK_KINDS)
    for fault in plan:
        streams, _ = NETWORK_INJECTORS[fault.kind](fault.target).layout(TOPOLOGY)
        assert streams, fault


def test_network_kinds_are_registered_but_refused_for_a_cluster_without_links(tmp_path: Path) -> None:
    registry = default_registry()
    assert all(registry.supports(kind) for kind in NETWORK_KINDS)
    registry.check(NETWORK_KINDS)  # without a cluster only the injectors are checked
    cluster = LocalCluster(tmp_path)
    TOPOLOGY.save(cluster.topology_path)
    assert cluster.links() is None
    with pytest.raises(UnsupportedFaultError, match=r"latency, partition-az: needs Toxiproxy links.*proxy_links=True"):
        registry.check(["latency", "partition-az", "power-off"], cluster)
    registry.check(["power-off"], cluster)
    context = FaultContext(cluster, lambda: LeaderView({}))
    injector: Any = registry.create("partition-node", {"process_id": "node-a1", "az": "az-a"})
    with pytest.raises(NetworkLinksUnavailable, match="proxy_links=True"):
        injector.start(context)
    assert injector.heal(context)["healed"] is False
