"""`[cluster.admission]` and the hot-key workload in scenario files: read, passed to the store, refused clearly."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from cluster.admission.settings import AdmissionSettings
from gameday.scenario import ScenarioError, load_scenario, parse_scenario

SCENARIOS = Path(__file__).parents[2] / "gameday" / "scenarios"


def _hot_key_data() -> dict[str, Any]:
    return tomllib.loads((SCENARIOS / "hot-key.toml").read_text())


def _parse(data: dict[str, Any]) -> Any:
    return parse_scenario(data, "test.toml")


def test_hot_key_scenarios_switch_admission_on_and_off_with_the_same_load() -> None:
    on, off = load_scenario("hot-key"), load_scenario("hot-key-off")
    assert on.cluster.admission_enabled and not off.cluster.admission_enabled
    assert on.workload == off.workload and on.workload.model == "hot-key" and on.workload.history_model == "register"
    hot_key = on.workload.hot_key
    assert hot_key is not None and hot_key.hot_keys >= 2 and hot_key.hot_end_s < on.total_s
    assert not on.faults.mix  # no chaos faults: the load is the fault
    settings = on.cluster.store_settings()["admission"]
    assert isinstance(settings, AdmissionSettings)
    assert settings.partition_max_wcu == on.cluster.admission["partition_max_wcu"] < AdmissionSettings().partition_max_wcu
    assert off.cluster.store_settings()["admission"].enabled is False


def test_scenarios_without_the_table_keep_the_store_defaults() -> None:
    smoke = load_scenario("smoke")
    assert smoke.cluster.admission == {} and smoke.cluster.admission_enabled
    assert "admission" not in smoke.cluster.store_settings()
    assert smoke.workload.hot_key is None


@pytest.mark.parametrize(
    ("admission", "words"),
    [
        ({"partition_max_wcuu": 50}, ["cluster.admission", "partition_max_wcuu", "partition_max_wcu"]),
        ({"partition_max_wcu": -1}, ["cluster.admission", "partition_max_wcu", "positive"]),
        ({"enabled": "no"}, ["cluster.admission", "enabled", "true or false"]),
        ({"split_threshold": 2.0}, ["cluster.admission", "split_threshold"]),
        ({"max_partitions_per_table": 0}, ["cluster.admission", "max_partitions_per_table"]),
        ("fast", ["cluster.admission", "table"]),
    ],
)
def test_bad_admission_settings_are_refused_naming_the_field(admission: Any, words: list[str]) -> None:
    data = _hot_key_data()
    data["cluster"]["admission"] = admission
    with pytest.raises(ScenarioError) as caught:
        _parse(data)
    message = str(caught.value)
    assert message.startswith("test.toml: cluster.admission: ")
    for word in words:
        assert word in message
    assert "Traceback" not in message


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        (lambda data: data["workload"].pop("hot_clients"), "workload.hot_clients", "missing"),
        (lambda data: data["workload"].update(hot_keys=0), "workload.hot_keys", "at least 1"),
        (lambda data: data["workload"].update(hot_start_s=0), "workload.hot_start_s", "greater than 0"),
        (lambda data: data["workload"].update(hot_duration_s=500), "workload.hot_duration_s", "after the run"),
        (lambda data: data["workload"].update(model="register"), "workload.hot_clients", "unknown key"),
        (lambda data: data["workload"].update(hot_clients="many"), "workload.hot_clients", "integer"),
    ],
)
def test_bad_hot_key_workloads_are_refused(change: Any, path: str, reason: str) -> None:
    data = copy.deepcopy(_hot_key_data())
    change(data)
    with pytest.raises(ScenarioError) as caught:
        _parse(data)
    assert caught.value.field_path == path and reason in caught.value.reason


def test_a_scenario_without_faults_plans_none() -> None:
    data = _hot_key_data()
    assert "faults" not in data
    scenario = _parse(data)
    assert scenario.faults.mix == {} and scenario.faults.duration_s == 0
    assert scenario.total_s == scenario.warmup_s + scenario.recovery_s


def test_only_the_index_workload_adds_an_index_and_at_a_time_that_is_a_number() -> None:
    data = tomllib.loads((SCENARIOS / "transactions.toml").read_text())
    assert _parse(data).workload.add_index_at_s == 14.0
    for change, reason in ((dict(add_index_at_s=-1), "negative"), (dict(add_index_at_s="soon"), "number"),
                           (dict(model="register", keys=8), "only the index workload")):  # fmt: skip
        changed = copy.deepcopy(data)
        changed["workload"].update(change)
        with pytest.raises(ScenarioError) as caught:
            _parse(changed)
        assert caught.value.field_path == "workload.add_index_at_s" and reason in caught.value.reason
