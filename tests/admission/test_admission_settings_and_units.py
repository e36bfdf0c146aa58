"""Admission settings (the topology's "admission" field) and DynamoDB's capacity units."""

from __future__ import annotations

import pytest

from cluster.admission.capacity_units import read_units, read_units_up_front, write_units
from cluster.admission.settings import AdmissionSettings
from cluster.deploy.local_processes import build_topology
from cluster.runtime.topology import Topology, TopologyError


def test_defaults_round_trip_through_json_and_the_topology() -> None:
    assert AdmissionSettings.from_json(AdmissionSettings().to_json()) == AdmissionSettings()
    topology = build_topology(3, 1, 2)
    topology.admission = AdmissionSettings(enabled=False, partition_max_wcu=5, burst_s=1)
    again = Topology.from_json(topology.to_json())
    assert again.admission == topology.admission
    assert again.admission.partition_max_wcu == 5.0
    data = topology.to_json()
    del data["admission"]
    assert Topology.from_json(data).admission == AdmissionSettings(), "an older topology gets the defaults"


def test_integers_from_toml_become_floats() -> None:
    settings = AdmissionSettings.from_json({"partition_max_wcu": 50, "max_partitions_per_table": 4})
    assert settings.partition_max_wcu == 50.0 and isinstance(settings.partition_max_wcu, float)


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"partition_max_wcuu": 5}, "partition_max_wcuu"),
        ({"partition_max_wcu": 0}, "partition_max_wcu"),
        ({"node_max_rcu": -1}, "node_max_rcu"),
        ({"gac_interval_s": "fast"}, "gac_interval_s"),
        ({"burst_s": float("nan")}, "burst_s"),
        ({"split_threshold": 1.5}, "split_threshold"),
        ({"max_partitions_per_table": 0}, "max_partitions_per_table"),
        ({"enabled": "yes"}, "enabled"),
    ],
)
def test_unknown_names_and_out_of_range_values_are_refused_by_name(data: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        AdmissionSettings.from_json(data)


def test_a_topology_with_bad_admission_settings_is_a_topology_error() -> None:
    data = build_topology(3, 1, 2).to_json()
    data["admission"] = {"burst": 3}
    with pytest.raises(TopologyError, match="burst"):
        Topology.from_json(data)


@pytest.mark.parametrize(("size", "units"), [(0, 1), (1, 1), (1024, 1), (1025, 2), (4000, 4), (400 * 1024, 400)])
def test_write_units_are_kib_rounded_up_at_least_one(size: int, units: int) -> None:
    assert write_units(size) == units


@pytest.mark.parametrize(("size", "strong", "eventual"), [(0, 1, 0.5), (4096, 1, 0.5), (4097, 2, 1.0), (9000, 3, 1.5)])
def test_read_units_are_4_kib_rounded_up_halved_when_eventual(size: int, strong: float, eventual: float) -> None:
    assert read_units(size, consistent=True) == strong
    assert read_units(size, consistent=False) == eventual


def test_reads_are_charged_their_minimum_up_front() -> None:
    assert read_units_up_front(True) == 1.0 and read_units_up_front(False) == 0.5


def test_the_topology_takes_admission_settings_as_a_table_too() -> None:
    topology = build_topology(3, 1, 2)
    data = topology.to_json()
    assert Topology(topology.processes, admission={"enabled": False}).admission == AdmissionSettings(enabled=False)
    with pytest.raises(TopologyError, match="partition_max_wcu"):
        Topology(topology.processes, admission={"partition_max_wcu": -1})
    with pytest.raises(TopologyError, match="admission must be"):
        Topology(topology.processes, admission=3)  # type: ignore[arg-type]
    assert data["admission"] == AdmissionSettings().to_json()
