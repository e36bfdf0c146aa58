"""Scenario files: the shipped ones load, and every invalid one is refused naming file, field and reason."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chaos.faults.kinds import FAULT_KINDS
from chaos.faults.process_faults import PowerOff
from chaos.faults.registry import UnsupportedFaultError, default_registry
from chaos.schedule import NodeRef, ScheduleError, format_plan, plan_faults
from gameday.scenario import ScenarioError, load_scenario, parse_scenario, shipped_scenarios

SHIPPED = (
    "smoke", "default", "az-outage", "log-replica", "log-replica-off", "cache-flush", "cache-flush-classic", "bit-rot",
    "bit-rot-off", "hot-key", "hot-key-off", "torture", "ci", "soak", "transactions",
)
# Kinds that compose or churn: `torture` runs them; `default` keeps its one-at-a-time mix of the others.
COMPOSED_KINDS = {"flapping-partition", "flapping-one-way", "flapping-latency", "leader-churn", "kill-random-subset"}
# Kinds that take a group's majority down on purpose: only scenarios that allow majority loss run them.
MAJORITY_LOSS_KINDS = {"lagging-election"}
# Kinds aimed at transactions (a coordinator killed between its phases, a participant cut off while it
# prepares): the transactions scenario runs them, where transactions are in flight.
TRANSACTION_KINDS = {"kill-coordinator", "partition-leader"}
# Scenarios whose lesson is about load, not failures: no [faults] table, so no fault is planned.
FAULT_FREE = ("hot-key", "hot-key-off")


def _smoke_data() -> dict[str, Any]:
    return tomllib.loads((Path(__file__).parents[2] / "gameday" / "scenarios" / "smoke.toml").read_text())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_load_by_name_and_by_path(name: str) -> None:
    scenario = load_scenario(name)
    assert scenario.name == name
    if name in FAULT_FREE:
        assert not scenario.faults.mix and scenario.faults.duration_s == 0
    else:
        assert scenario.faults.mix and scenario.faults.fault_duration_s[1] <= scenario.faults.duration_s
    assert load_scenario(scenario.source) == scenario
    # `make gameday` must not be refused: every kind a shipped scenario names has an injector today.
    default_registry().check(scenario.faults.mix)


def test_shipped_scenarios_are_listed() -> None:
    assert set(SHIPPED) == set(shipped_scenarios())


def test_default_covers_every_fault_kind_but_those_torture_and_transactions_cover() -> None:
    default = load_scenario("default").faults
    assert set(default.mix) == set(FAULT_KINDS) - COMPOSED_KINDS - MAJORITY_LOSS_KINDS - TRANSACTION_KINDS
    assert default.max_concurrent_faults == 1 and not default.allow_majority_loss
    assert set(load_scenario("torture").faults.mix) >= COMPOSED_KINDS
    assert set(load_scenario("transactions").faults.mix) >= TRANSACTION_KINDS


def test_smoke_scenario_values() -> None:
    scenario = load_scenario("smoke")
    assert scenario.cluster.azs == 3 and scenario.cluster.nodes_per_az == 2
    assert scenario.workload.model == "register" and scenario.workload.rate_per_client_s == 10.0
    assert scenario.faults.fault_duration_s == (3.0, 5.0)
    assert scenario.faults.options_for("kill-leader").leader_of == ("partition", "metadata")
    assert scenario.faults.max_concurrent_faults == 1 and not scenario.faults.allow_majority_loss
    assert 0 < scenario.thresholds.availability_inside_faults < scenario.thresholds.availability_outside_faults <= 1
    assert scenario.total_s == 5 + 30 + 10


def test_counters_are_opt_in_by_an_incr_weight() -> None:
    assert load_scenario("smoke").workload.register_weights.incr == 1.0
    assert load_scenario("default").workload.register_weights.incr == 1.0
    data = _smoke_data()
    del data["workload"]["incr_weight"]
    assert parse_scenario(data, "counters.toml").workload.register_weights.incr == 0.0


def test_default_scenario_omits_rate_so_clients_run_closed_loop() -> None:
    assert load_scenario("default").workload.rate_per_client_s is None


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        table = data
        for parent in parents:
            table = table.setdefault(parent, {})
        table[last] = value

    return mutate


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        table = data
        for parent in parents:
            table = table[parent]
        del table[last]

    return mutate


def _empty_mix(data: dict[str, Any]) -> None:
    data["faults"]["mix"] = {}


INVALID = [
    (_set("colour", "red"), "colour", "unknown key"),
    (_set("workload.typo", 1), "workload.typo", "unknown key"),
    (_set("workload.keys", "five"), "workload.keys", "must be an integer"),
    (_set("workload.keys", 2.5), "workload.keys", "must be an integer"),
    (_set("workload.model", "queue"), "workload.model", "must be one of"),
    (_set("workload.rate_per_client_s", 0), "workload.rate_per_client_s", "greater than 0"),
    (_set("workload.cas_weight", -1), "workload.cas_weight", "negative"),
    (_set("workload.incr_weight", -1), "workload.incr_weight", "negative"),
    (_delete("workload"), "workload", "missing"),
    (_set("cluster.azs", 2), "cluster.azs", "at least 3"),
    (_set("cluster.log_replicas", "yes"), "cluster.log_replicas", "true or false"),
    (_set("cluster.scrub", 1), "cluster.scrub", "true or false"),
    (_set("cluster.router_cache", "lru"), "cluster.router_cache", "must be one of"),
    (_set("warmup_s", -1), "warmup_s", "negative"),
    (_set("recovery_s", "10s"), "recovery_s", "must be a number"),
    (_set("final_reads", "yes"), "final_reads", "true or false"),
    (_set("faults.duration_s", -5), "faults.duration_s", "negative"),
    (_set("faults.duration_s", True), "faults.duration_s", "must be a number"),
    (_set("faults.interval_s", 0), "faults.interval_s", "greater than 0"),
    (_set("faults.fault_duration_s", [3, 100]), "faults.fault_duration_s", "longer than the fault phase"),
    (_set("faults.fault_duration_s", [5, 3]), "faults.fault_duration_s", "greater than maximum"),
    (_set("faults.fault_duration_s", [3]), "faults.fault_duration_s", "[minimum, maximum]"),
    (_set("faults.fault_duration_s", [-1, 3]), "faults.fault_duration_s", "greater than 0"),
    (_set("faults.targets.pause.fault_duration_s", [3, 100]), "faults.targets.pause.fault_duration_s", "longer than the fault phase"),
    (_set("faults.targets.pause.fault_duration_s", [4, 2]), "faults.targets.pause.fault_duration_s", "greater than maximum"),
    (_set("faults.targets.pause.fault_duration_s", "long"), "faults.targets.pause.fault_duration_s", "[minimum, maximum]"),
    (_set("faults.max_concurrent_faults", 0), "faults.max_concurrent_faults", "at least 1"),
    (_set("faults.mix.meteor-strike", 1), "faults.mix.meteor-strike", "unknown fault kind"),
    (_set("faults.mix.power-off", 0), "faults.mix.power-off", "greater than 0"),
    (_set("faults.mix.pause", -2), "faults.mix.pause", "greater than 0"),
    (_set("faults.mix.pause", "often"), "faults.mix.pause", "must be a number"),
    (_empty_mix, "faults.mix", "empty"),
    (_set("faults.targets.pause.of", ["metadata"]), "faults.targets.pause.of", "unknown key for pause"),
    (_set("faults.targets.kill-leader.of", ["everything"]), "faults.targets.kill-leader.of", "is not one of"),
    (_set("faults.targets.az-power-off.roles", ["toaster"]), "faults.targets.az-power-off.roles", "is not one of"),
    (_set("faults.targets.power-off.azs", []), "faults.targets.power-off.azs", "non-empty array"),
    (_set("faults.targets.tsunami.azs", ["az-a"]), "faults.targets.tsunami", "unknown fault kind"),
    (_set("faults.targets.latency.latency_ms", -1), "faults.targets.latency.latency_ms", "negative"),
    (_set("faults.targets.latency.latency_ms", "slow"), "faults.targets.latency.latency_ms", "must be a number"),
    (_set("faults.targets.clock-skew.rate", 20), "faults.targets.clock-skew.rate", "at most 10"),
    (_set("faults.targets.bit-rot.items", 0), "faults.targets.bit-rot.items", "below 1"),
    (_set("faults.targets.pause.latency_ms", 5), "faults.targets.pause.latency_ms", "unknown key for pause"),
    (_set("faults.allow_majority_loss", "no"), "faults.allow_majority_loss", "true or false"),
    (_set("faults.targets.leader-churn.by", ["poison"]), "faults.targets.leader-churn.by", "is not one of"),
    (_set("faults.targets.leader-churn.down_s", -1), "faults.targets.leader-churn.down_s", "negative"),
    (_set("faults.targets.kill-random-subset.by", ["kill"]), "faults.targets.kill-random-subset.by", "unknown key"),
    (_set("faults.targets.flapping-partition.flap_min_s", 0), "faults.targets.flapping-partition.flap_min_s", "below 0.05"),
    (_set("faults.targets.flapping-latency", {"flap_min_s": 2, "flap_max_s": 1}),
     "faults.targets.flapping-latency.flap_min_s", "greater than flap_max_s = 1"),
    (_set("thresholds.by_fault_kind.meteor", {"availability": 0.1}), "thresholds.by_fault_kind.meteor", "unknown fault kind"),
    (_set("thresholds.by_fault_kind.pause", {"availability": 2}), "thresholds.by_fault_kind.pause.availability", "at most 1"),
    (_set("thresholds.by_fault_kind.pause", {}), "thresholds.by_fault_kind.pause.availability", "missing"),
    (_set("thresholds.by_fault_kind.pause", {"availability": 0.5, "grace": 1}), "thresholds.by_fault_kind.pause.grace", "unknown key"),
    (_set("thresholds.availability_outside_faults", 1.5), "thresholds.availability_outside_faults", "at most 1"),
    (_set("thresholds.availability_inside_faults", -0.1), "thresholds.availability_inside_faults", "negative"),
    (_set("thresholds.latency_p99_ms", 0), "thresholds.latency_p99_ms", "greater than 0"),
    (_delete("thresholds.window_s"), "thresholds.window_s", "missing"),
    (_set("thresholds.regression_tolerance", -0.5), "thresholds.regression_tolerance", "negative"),
]


@pytest.mark.parametrize(("mutate", "field_path", "reason"), INVALID, ids=[case[1] + ":" + case[2] for case in INVALID])
def test_invalid_scenario_names_file_field_and_reason(
    mutate: Callable[[dict[str, Any]], None], field_path: str, reason: str
) -> None:
    data = copy.deepcopy(_smoke_data())
    parse_scenario(data, "bad.toml")  # the unmutated scenario is valid: the mutation alone is refused
    mutate(data)
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(data, "bad.toml")
    assert caught.value.file == "bad.toml"
    assert caught.value.field_path == field_path
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"bad.toml: {field_path}: ")


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('name = "broken"\nwarmup_s = 5\n[faults\nduration_s = 3\n')
    with pytest.raises(ScenarioError) as caught:
        load_scenario(str(path))
    assert str(path) in str(caught.value)
    assert "line 3" in str(caught.value)


def test_invalid_file_on_disk_names_its_path(tmp_path: Path) -> None:
    source = (Path(__file__).parents[2] / "gameday" / "scenarios" / "smoke.toml").read_text()
    path = tmp_path / "slow.toml"
    path.write_text(source.replace("interval_s = 8", "interval_s = -8"))
    with pytest.raises(ScenarioError, match=r"slow\.toml: faults\.interval_s: must be greater than 0"):
        load_scenario(str(path))


def test_unknown_scenario_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ScenarioError, match="shipped: .*smoke"):
        load_scenario("no-such-scenario")


def test_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(str(tmp_path / "absent.toml"))


def test_network_kinds_pass_the_schema_but_need_a_cluster_with_proxied_links(tmp_path) -> None:  # noqa: ANN001
    from cluster.deploy.local_processes import LocalCluster

    data = _smoke_data()
    data["faults"]["mix"] = {"latency": 1, "partition-az": 2, "power-off": 1}
    scenario = parse_scenario(data, "network.toml")
    registry = default_registry()
    registry.check(scenario.faults.mix)  # every kind has an injector
    unproxied = LocalCluster(tmp_path / "never-started")
    with pytest.raises(UnsupportedFaultError, match="latency, partition-az: needs Toxiproxy links"):
        registry.check(scenario.faults.mix, unproxied)
    registry.check(["power-off"], unproxied)  # process faults need no links
    with pytest.raises(ValueError, match="not in the fault catalogue"):
        registry.register("meteor-strike", PowerOff)


def test_an_abort_table_is_optional_and_validated() -> None:
    assert parse_scenario(_smoke_data(), "s.toml").abort is None
    data = _smoke_data()
    data["abort"] = {"canary_availability_below": 0.8, "for_s": 10}
    abort = parse_scenario(data, "s.toml").abort
    assert abort is not None and abort.canary_availability_below == 0.8 and abort.for_s == 10
    data["abort"] = {"canary_availability_below": 1.5, "for_s": 10}
    with pytest.raises(ScenarioError, match="abort.canary_availability_below"):
        parse_scenario(data, "s.toml")
    data["abort"] = {"canary_availability_below": 0.5, "for_s": 0}
    with pytest.raises(ScenarioError, match="abort.for_s"):
        parse_scenario(data, "s.toml")
    data["abort"] = {"canary_availability_below": 0.5, "for_s": 5, "probe": "x"}
    with pytest.raises(ScenarioError, match="abort.probe"):
        parse_scenario(data, "s.toml")


def test_fault_parameters_reach_every_planned_target() -> None:
    data = copy.deepcopy(_smoke_data())
    data["faults"]["mix"] = {"latency": 1, "clock-skew": 1}
    data["faults"]["targets"] = {"latency": {"latency_ms": 40, "jitter_ms": 4}, "clock-skew": {"rate": 1.25}}
    scenario = parse_scenario(data, "parameters.toml")
    nodes = [NodeRef(f"node-{az}1", f"az-{az}") for az in "abc"]
    plan = plan_faults(scenario.faults, 3, nodes, 0.0)
    assert {fault.kind for fault in plan} == {"latency", "clock-skew"}
    for fault in plan:
        if fault.kind == "latency":
            assert (fault.target["latency_ms"], fault.target["jitter_ms"]) == (40, 4)
        else:
            assert fault.target["rate"] == 1.25
    assert "latency_ms=40" in format_plan(plan) and "rate=1.25" in format_plan(plan)


def test_a_fault_kind_may_have_its_own_length_and_the_others_keep_the_phase_s() -> None:
    data = copy.deepcopy(_smoke_data())
    data["faults"].update({"duration_s": 120, "interval_s": 2, "fault_duration_s": [1, 2]})
    data["faults"]["mix"] = {"pause": 1, "partition-az": 1}
    nodes = [NodeRef(f"node-{az}1", f"az-{az}") for az in "abc"]
    phase_only = parse_scenario(data, "lengths.toml").faults
    data["faults"]["targets"] = {"partition-az": {"fault_duration_s": [5, 6]}}
    scenario = parse_scenario(data, "lengths.toml")
    assert scenario.faults.duration_bounds("partition-az") == (5.0, 6.0)
    assert scenario.faults.duration_bounds("pause") == (1.0, 2.0) and scenario.faults.longest_fault_s == 6.0
    plan = plan_faults(scenario.faults, 7, nodes, 0.0)
    lengths = {kind: [fault.duration_s for fault in plan if fault.kind == kind] for kind in ("pause", "partition-az")}
    assert lengths["pause"] and all(1.0 <= length <= 2.0 for length in lengths["pause"])
    assert lengths["partition-az"] and all(5.0 <= length <= 6.0 for length in lengths["partition-az"][:-1])
    assert plan == plan_faults(scenario.faults, 7, nodes, 0.0)  # replayable by seed
    # Without an override the phase's bounds rule every kind, as before the option existed.
    assert all(1.0 <= fault.duration_s <= 2.0 for fault in plan_faults(phase_only, 7, nodes, 0.0)[:-1])


def test_clock_rate_range_matches_what_a_node_accepts() -> None:
    from cluster.replication.replica_host import CLOCK_RATE_MAXIMUM, CLOCK_RATE_MINIMUM

    assert FAULT_KINDS["clock-skew"].parameters["rate"] == (CLOCK_RATE_MINIMUM, CLOCK_RATE_MAXIMUM)


def test_a_fault_kind_may_set_its_own_availability_floor_and_grace() -> None:
    data = copy.deepcopy(_smoke_data())
    data["thresholds"]["by_fault_kind"] = {"cluster-power-off": {"availability": 0.0, "grace_s": 8}}
    expected = parse_scenario(data, "floors.toml").thresholds.by_fault_kind["cluster-power-off"]
    assert (expected.availability, expected.grace_s) == (0.0, 8.0)


def test_store_switches_default_on_and_reach_the_deploy_settings() -> None:
    data = copy.deepcopy(_smoke_data())
    assert parse_scenario(data, "on.toml").cluster.store_settings() == {
        "log_replicas_enabled": True, "scrub_enabled": True, "router_cache_mode": "constant-work",
        "snapshot_every_entries": 10_000,
    }
    data["cluster"].update({"log_replicas": False, "scrub": False, "router_cache": "classic", "snapshot_every_entries": 0})
    assert parse_scenario(data, "off.toml").cluster.store_settings() == {
        "log_replicas_enabled": False, "scrub_enabled": False, "router_cache_mode": "classic",
        "snapshot_every_entries": 0,
    }
    data["cluster"]["snapshot_every_entries"] = -1
    with pytest.raises(ScenarioError, match="snapshot_every_entries"):
        parse_scenario(data, "negative.toml")


def test_a_target_may_name_the_exact_processes() -> None:
    data = copy.deepcopy(_smoke_data())
    data["faults"]["mix"] = {"power-off": 1}
    data["faults"]["targets"] = {"power-off": {"processes": ["node-b2"]}}
    scenario = parse_scenario(data, "exact.toml")
    nodes = [NodeRef(f"node-{az}{number}", f"az-{az}") for az in "abc" for number in (1, 2)]
    assert {fault.target["process_id"] for fault in plan_faults(scenario.faults, 5, nodes, 0.0)} == {"node-b2"}
    data["faults"]["targets"] = {"power-off": {"processes": ["node-z9"]}}
    with pytest.raises(ScheduleError, match="node-z9"):
        plan_faults(parse_scenario(data, "exact.toml").faults, 5, nodes, 0.0)


def test_leader_churn_by_isolation_needs_a_network_kind_in_the_mix_for_its_links() -> None:
    data = copy.deepcopy(_smoke_data())
    data["faults"]["mix"] = {"power-off": 1, "leader-churn": 1}
    data["faults"]["targets"]["leader-churn"] = {"by": ["kill", "isolate"]}
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(data, "churn.toml")
    assert caught.value.field_path == "faults.targets.leader-churn.by" and "network fault kind" in caught.value.reason
    data["faults"]["mix"]["flapping-partition"] = 1
    assert parse_scenario(data, "churn.toml").faults.options_for("leader-churn").by == ("kill", "isolate")
