"""Network faults on a real LocalCluster whose links all go through our Toxiproxy server.

One proxied cluster for the module (marked `cluster`); the fixture brings it down (and its Toxiproxy
server with it) even when a test fails. Status probes and the direct node calls below bypass the
proxies on purpose: they are how the test sees a process that chaos has cut off.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from chaos.controller import ChaosController
from chaos.faults.injector import FaultContext
from chaos.faults.leaders import LeaderView, leader_view_from_status
from chaos.faults.registry import default_registry
from chaos.network_links import ProxiedLinks
from chaos.schedule import PlannedFault
from cluster.deploy.local_processes import LocalCluster, process_alive
from cluster.runtime.rpc import RpcClient, RpcError, RpcTimeout, RpcUnavailable
from tests.cluster.conftest import create_table, make_client

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

TABLE = "network"


@pytest.fixture(scope="module")
def live_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path_factory.mktemp("network") / "cluster")
    try:
        cluster.up(wait_s=60, proxy_links=True)
        create_table(make_client(cluster.endpoints()["az-a"]), TABLE)
        yield cluster
    finally:
        cluster.down()


@pytest.fixture
def cluster(live_cluster: LocalCluster) -> Iterator[LocalCluster]:
    _wait_for_settled_leaders(live_cluster)
    yield live_cluster
    # Whatever a failing test left cut, the next one starts from a whole network.
    links = live_cluster.links()
    if links is not None:
        links.heal_all()


def _wait_until(
    predicate: Callable[[], Any], timeout_s: float, what: str, explain: Callable[[], object] = lambda: ""
) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout_s}s waiting for {what} {explain()}"
        time.sleep(0.2)


def _group_views(cluster: LocalCluster, group: str) -> list[str]:
    """Each replica's own view of `group` (role/term/leader): what a failure message needs to show."""
    return [
        f"{process['id']}:{view['role']}/{view['term']}/{view['leader']}"
        for process in cluster.status()["processes"]
        for view in process.get("groups", [])
        if view["group"] == group
    ]


# A node hands a group back to its preferred member after leading it 60 ticks (3 s), checked every
# 20 ticks: leaders unchanged for longer than that will not move on their own during the test.
SETTLED_LEADERS_S = 4.5


def _wait_for_settled_leaders(cluster: LocalCluster, timeout_s: float = 40.0) -> None:
    """Every group led, by the same processes, for SETTLED_LEADERS_S, or by its preferred member in two
    looks in a row (no one hands such a group on): a test then knows whom it cuts."""
    deadline = time.monotonic() + timeout_s
    leaders: dict[str, str] = {}
    since = time.monotonic()
    while True:
        status = cluster.status()
        view = leader_view_from_status(status)
        if not view.groups or set(view.groups) != set(view.leaders) or view.leaders != leaders:
            leaders, since = dict(view.leaders), time.monotonic()
        elif time.monotonic() - since >= SETTLED_LEADERS_S or _led_by_preferred_members(status, leaders):
            return
        assert time.monotonic() < deadline, f"leaders did not settle within {timeout_s}s: {view}"
        time.sleep(0.3)


def _led_by_preferred_members(status: dict[str, Any], leaders: dict[str, str]) -> bool:
    """Every storage group's leader names itself as the group's preferred member (the metadata group has
    no preferred member: only storage nodes hand leadership back)."""
    preferred = {
        group["group"]: group.get("preferred")
        for process in status["processes"]
        for group in process.get("groups", [])
        if leaders.get(group["group"]) == process["id"]
    }
    return all(preferred.get(group) == leader for group, leader in leaders.items() if group != "metadata")


def _every_group_led(cluster: LocalCluster) -> bool:
    view = leader_view_from_status(cluster.status())
    return bool(view.groups) and set(view.groups) == set(view.leaders)


def _links(cluster: LocalCluster) -> ProxiedLinks:
    links = cluster.links()
    assert links is not None
    return links


def _group_view(cluster: LocalCluster, process_id: str, group: str) -> dict[str, Any]:
    process = next(p for p in cluster.status()["processes"] if p["id"] == process_id)
    return next((g for g in process.get("groups", []) if g["group"] == group), {})


def _leader_other_than(cluster: LocalCluster, group: str, old_leader: str, old_term: int) -> tuple[str, int] | None:
    """(process, term) of a process other than old_leader that leads `group` in a later term, by its own word."""
    for process in cluster.status()["processes"]:
        if process["id"] == old_leader or group not in process.get("leading", []):
            continue
        term = next(g["term"] for g in process["groups"] if g["group"] == group)
        if term > old_term:
            return process["id"], term
    return None


def _a_partition_leader(cluster: LocalCluster) -> tuple[str, str, int]:
    """(group, leader, term), all from one status snapshot so that they describe the same moment."""
    status = cluster.status()
    view = leader_view_from_status(status)
    group = sorted(group for group in view.leaders if group != "metadata")[0]
    leader = view.leaders[group]
    process = next(p for p in status["processes"] if p["id"] == leader)
    return group, leader, next(g["term"] for g in process["groups"] if g["group"] == group)


def _consistent_read_at(cluster: LocalCluster, process_id: str, group: str) -> str:
    """Asks one node directly (not through a proxy) for a consistent read: "ok" or the error's name."""
    spec = cluster.topology().get(process_id)

    async def ask() -> str:
        client = RpcClient((spec.host, spec.port), connect_timeout_s=1.0)
        try:
            params = {"group": group, "hash": 0, "key": base64.b64encode(b"probe").decode(), "consistent": True}
            await client.call("node.get", params, timeout_s=3.0)
            return "ok"
        except RpcError as error:
            return error.code
        except (RpcTimeout, RpcUnavailable) as error:
            return type(error).__name__
        finally:
            await client.close()

    return asyncio.run(ask())


def _write_and_read_back(endpoint: str, keys: list[str], value: str, budget_s: float = 20.0) -> None:
    """Every key written and read back consistently through one router; retried while a group re-elects."""
    client = make_client(endpoint, timeout_s=5.0)
    for key in keys:
        deadline = time.monotonic() + budget_s
        while True:
            try:
                client.put_item(TableName=TABLE, Item={"pk": {"S": key}, "v": {"S": value}})
                item = client.get_item(TableName=TABLE, Key={"pk": {"S": key}}, ConsistentRead=True)["Item"]
                assert item["v"]["S"] == value
                break
            except (ClientError, BotoCoreError):
                assert time.monotonic() < deadline, f"{key} not written through {endpoint} within {budget_s}s"
                time.sleep(0.3)


def _context(cluster: LocalCluster) -> FaultContext:
    def leaders() -> LeaderView:
        return leader_view_from_status(cluster.status())

    return FaultContext(cluster, leaders)


def test_requests_flow_through_the_proxies_and_stop_when_a_router_is_cut_off(cluster: LocalCluster) -> None:
    links = _links(cluster)
    topology = cluster.topology()
    assert sum(len(targets) for targets in topology.links.values()) == 81
    endpoints = cluster.endpoints()
    _write_and_read_back(endpoints["az-a"], ["through-proxies"], "1", budget_s=5)
    for target in [spec.process_id for spec in topology.processes if spec.role in ("node", "metadata")]:
        links.cut("router-a", target)
    client = make_client(endpoints["az-a"], timeout_s=8.0)
    started_s = time.monotonic()
    with pytest.raises((ClientError, BotoCoreError)):
        client.get_item(TableName=TABLE, Key={"pk": {"S": "through-proxies"}}, ConsistentRead=True)
    print(f"router-a cut off: its request failed after {time.monotonic() - started_s:.2f}s")
    _write_and_read_back(endpoints["az-b"], ["through-proxies"], "2", budget_s=5)  # the others keep serving
    links.heal_all()
    assert links.toxics_active() == []
    _write_and_read_back(endpoints["az-a"], ["through-proxies"], "3", budget_s=15)


def test_isolating_a_leader_moves_the_group_and_the_isolated_node_stops_serving(cluster: LocalCluster) -> None:
    group, old_leader, old_term = _a_partition_leader(cluster)
    assert _consistent_read_at(cluster, old_leader, group) == "ok"
    context = _context(cluster)
    injector = default_registry().create("partition-node", {"process_id": old_leader, "az": "?"})
    started = injector.start(context)
    try:
        assert started["process_ids"] == [old_leader] and len(started["links"]) == 32
        started_s = time.monotonic()
        new_leader, new_term = _wait_until(
            lambda: _leader_other_than(cluster, group, old_leader, old_term), 20, f"a new leader of {group}",
            lambda: _group_views(cluster, group),
        )
        print(f"{group}: {old_leader} isolated, {new_leader} leads term {new_term} after {time.monotonic() - started_s:.2f}s")
        # The majority side serves writes and consistent reads through a router...
        _write_and_read_back(cluster.endpoints()["az-b"], [f"isolated-{number}" for number in range(8)], "x")
        assert _consistent_read_at(cluster, new_leader, group) == "ok"
        # ...while the isolated node, cut off from its quorum, refuses a consistent read and never hears
        # of its successor (a two-way partition: nothing from the majority reaches it).
        assert _wait_until(lambda: _consistent_read_at(cluster, old_leader, group) != "ok", 10, "the lease to lapse")
        isolated_view = _group_view(cluster, old_leader, group)
        assert isolated_view["leader"] != new_leader and isolated_view["role"] != "leader"
    finally:
        healed = injector.heal(context)
    assert len(healed["links"]) == 32 and injector.heal(context)["healed"] is False
    assert _links(cluster).toxics_active() == []
    _wait_until(lambda: _group_view(cluster, old_leader, group).get("term", 0) >= new_term, 20, "the old leader to rejoin")
    _wait_until(lambda: _every_group_led(cluster), 20, "every group led after heal")


def test_one_way_cut_of_a_leader_makes_it_a_follower_that_still_hears_its_successor(cluster: LocalCluster) -> None:
    group, old_leader, old_term = _a_partition_leader(cluster)
    context = _context(cluster)
    injector = default_registry().create("one-way", {"process_id": old_leader, "az": "?"})
    started = injector.start(context)
    try:
        assert started["senders"] == [old_leader] and len(started["links"]) == 16
        new_leader, new_term = _wait_until(
            lambda: _leader_other_than(cluster, group, old_leader, old_term), 20, f"a new leader of {group}",
            lambda: _group_views(cluster, group),
        )
        # Unlike the two-way partition, the silenced leader receives the new leader's heartbeats: it
        # follows it in its term, though its own answers never arrive.
        view = _wait_until(
            lambda: (v := _group_view(cluster, old_leader, group)).get("leader") == new_leader and v, 10,
            f"{old_leader} to learn of {new_leader}",
        )
        assert view["role"] == "follower" and view["term"] == new_term
        print(f"{group}: one-way from {old_leader}: it follows {new_leader} in term {new_term}")
    finally:
        injector.heal(context)
    assert _links(cluster).toxics_active() == []
    _wait_until(lambda: _every_group_led(cluster), 20, "every group led after heal")


def test_leader_churn_by_isolation_moves_one_group_from_leader_to_leader_and_loses_no_write(
    cluster: LocalCluster,
) -> None:
    recorder: list[dict[str, Any]] = []
    plan = [PlannedFault(0.0, 8.0, "leader-churn", {"of": "partition", "index": 0, "by": "isolate", "down_s": 0.5})]
    controller = ChaosController(cluster, recorder.append)
    churning = threading.Thread(target=controller.run, args=(plan, threading.Event(), time.monotonic()))
    churning.start()
    try:
        # Writes through a router while leaders come and go: each one acknowledged must read back.
        _write_and_read_back(cluster.endpoints()["az-c"], [f"churned-{number}" for number in range(6)], "c", budget_s=30)
    finally:
        churning.join(timeout=60)
    functions = [event["f"] for event in recorder]
    assert functions[0] == "start-leader-churn" and functions[-1] == "stop-leader-churn", functions
    stop = recorder[-1]["value"]
    taken = stop["leaders_taken"]
    assert len(taken) >= 2 and len(set(taken)) >= 2, f"one isolation is not churn: {taken}"
    # One victim at a time: every isolation but the first follows the previous victim's reconnection.
    assert functions.count("churn-isolate") == functions.count("churn-reconnect")
    print(f"leader-churn by isolation: {len(taken)} leaders taken, {stop['leader_changes_per_s']}/s")
    assert _links(cluster).toxics_active() == []
    _wait_until(lambda: _every_group_led(cluster), 20, "every group led after the churn")


def test_down_stops_the_toxiproxy_server_and_a_later_up_recreates_the_proxies(live_cluster: LocalCluster) -> None:
    _write_and_read_back(live_cluster.endpoints()["az-c"], ["survives-restart"], "kept", budget_s=10)
    toxiproxy_pid = live_cluster.toxiproxy_pid()
    assert toxiproxy_pid is not None
    old_url = _links(live_cluster).url
    assert "toxiproxy" in live_cluster.down()
    assert live_cluster.toxiproxy_pid() is None and live_cluster.links() is None
    assert not process_alive(toxiproxy_pid, "gameday.commands.toxiproxy")
    started_s = time.monotonic()
    live_cluster.up(wait_s=60, proxy_links=True)
    print(f"second up with proxies: {time.monotonic() - started_s:.2f}s")
    links = _links(live_cluster)
    assert links.url != old_url and live_cluster.toxiproxy_pid() not in (None, toxiproxy_pid)
    assert len(links.proxies()) == 81 and links.toxics_active() == []
    client = make_client(live_cluster.endpoints()["az-a"])
    _wait_until(lambda: _every_group_led(live_cluster), 30, "every group led after the restart")
    item = client.get_item(TableName=TABLE, Key={"pk": {"S": "survives-restart"}}, ConsistentRead=True)["Item"]
    assert item["v"]["S"] == "kept"
