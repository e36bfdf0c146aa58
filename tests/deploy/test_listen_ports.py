"""Listening ports come from below the kernel's ephemeral range, free, distinct and outside `avoid`."""

from __future__ import annotations

import random
import socket
from pathlib import Path

from cluster.deploy.listen_ports import LISTEN_RANGE_SIZE, ephemeral_range, free_listen_ports


def test_ports_are_drawn_below_the_ephemeral_range_distinct_free_and_not_avoided() -> None:
    low, _ = ephemeral_range()
    avoid = set(range(max(1024, low - LISTEN_RANGE_SIZE), low, 2))  # every other port of the range
    ports = free_listen_ports(40, avoid=avoid, rng=random.Random(7))
    assert len(set(ports)) == 40
    assert all(max(1024, low - LISTEN_RANGE_SIZE) <= port < low and port not in avoid for port in ports)
    for port in ports:  # free when handed out
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))


class _Draws(random.Random):
    """Draws the given ports in order (then the last one forever)."""

    def __init__(self, ports: list[int]) -> None:
        super().__init__(0)
        self.ports = ports

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:  # type: ignore[override]
        return self.ports.pop(0) if len(self.ports) > 1 else self.ports[0]


def test_a_port_in_use_is_never_handed_out() -> None:
    low, _ = ephemeral_range()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", low - 1))
        taken.listen()
        assert free_listen_ports(1, rng=_Draws([low - 1, low - 1, low - 3])) == [low - 3]


def test_without_room_below_the_range_the_kernel_chooses(tmp_path: Path) -> None:
    everything = tmp_path / "range"
    everything.write_text("1024\t65535\n")
    assert ephemeral_range(everything) == (1024, 65535)
    ports = free_listen_ports(3, range_file=everything)
    assert len(set(ports)) == 3 and all(port >= 1024 for port in ports)
    assert ephemeral_range(tmp_path / "missing") == (32768, 60999)
