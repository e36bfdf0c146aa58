"""docker/docker-compose.yml and its files are generated, checked in, and agree with the Docker layout."""

from __future__ import annotations

import json
from pathlib import Path

from chaos.network_links import directed_links
from cluster.deploy.docker_compose_files import (
    compose_document,
    compose_topology,
    proxy_definitions,
    write_files,
)

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_compose_files_are_the_generated_ones(tmp_path: Path) -> None:
    for generated in write_files(tmp_path):
        checked_in = ROOT / "docker" / generated.relative_to(tmp_path)
        assert checked_in.read_text() == generated.read_text(), (
            f"{checked_in} is stale: run `python -m cluster.deploy.docker_compose_files write`"
        )


def test_every_link_has_one_proxy_and_every_process_one_service() -> None:
    topology = compose_topology()
    definitions = proxy_definitions(topology)
    assert len(definitions) == len(directed_links(topology))
    assert len({definition["listen"] for definition in definitions}) == len(definitions)
    services = compose_document(topology)["services"]
    assert {spec.process_id for spec in topology.processes} <= set(services)
    published = [port for service in services.values() for port in service.get("ports", [])]
    assert published and all(port.startswith("127.0.0.1:") for port in published), published
    assert all("monitoring" in services[name]["profiles"] for name in ("prometheus", "grafana"))


def test_compose_topology_file_dials_the_toxiproxy_service() -> None:
    saved = json.loads((ROOT / "docker" / "compose" / "topology.json").read_text())
    addresses = {address for targets in saved["links"].values() for address in targets.values()}
    assert addresses and all(address.startswith("toxiproxy:") for address in addresses)
