"""Host ports for a Docker cluster's published container ports: each chosen once per cluster.

The daemon binds a published port only when its container starts, so a probe cannot see the ports this
cluster chose a moment ago; a port drawn twice made the second container fail with "port is already
allocated" (CI saw it once in a run that started five clusters)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cluster.deploy import docker_cluster


class _Draws:
    """Stands in for the random choice: answers the given ports in order, then repeats the last."""

    def __init__(self, ports: list[int]) -> None:
        self._ports: Iterator[int] = iter(ports)
        self._last = ports[-1]

    def randrange(self, start: int, stop: int) -> int:
        self._last = next(self._ports, self._last)
        assert start <= self._last < stop
        return self._last


def test_a_port_already_chosen_is_not_chosen_again(monkeypatch: pytest.MonkeyPatch) -> None:
    low = docker_cluster.PUBLISHED_PORT_RANGE[0]
    first, second = [port for port in range(low + 100, low + 400) if docker_cluster.port_free(port)][:2]
    monkeypatch.setattr(docker_cluster, "_PORT_CHOICE", _Draws([first, first, first, second]))
    taken: set[int] = set()
    assert docker_cluster._free_port(taken) == first
    assert docker_cluster._free_port(taken) == second, "the same draw twice must not give the same port"
    assert taken == {first, second}


def test_a_crowded_range_falls_back_to_a_port_not_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    low = docker_cluster.PUBLISHED_PORT_RANGE[0]
    only = next(port for port in range(low + 500, low + 900) if docker_cluster.port_free(port))
    monkeypatch.setattr(docker_cluster, "_PORT_CHOICE", _Draws([only]))
    taken = {only}
    port = docker_cluster._free_port(taken)
    assert port != only and port in taken and docker_cluster.port_free(port)


def test_chosen_ports_reads_every_port_of_the_state() -> None:
    state = {"router-a": {"port": 20001, "metrics": 20002}, "toxiproxy": {"port": 20003}, "bad": {"port": None}}
    assert docker_cluster._chosen_ports(state) == {20001, 20002, 20003}
