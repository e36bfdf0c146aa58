"""Listening ports come from below the kernel's ephemeral range, free, distinct, outside `avoid` and
unclaimed by another cluster."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

from cluster.deploy.listen_ports import (
    CLAIM_TTL_S,
    LISTEN_RANGE_SIZE,
    claim_port,
    ephemeral_range,
    free_listen_ports,
    own_claims,
    release_claims,
)


# Each test claims in its own directory: the machine's claims of an earlier run (the same seeded draws)
# would otherwise hand out other ports than the test expects for 15 minutes.
def test_ports_are_drawn_below_the_ephemeral_range_distinct_free_and_not_avoided(tmp_path: Path) -> None:
    low, _ = ephemeral_range()
    avoid = set(range(max(1024, low - LISTEN_RANGE_SIZE), low, 2))  # every other port of the range
    ports = free_listen_ports(40, avoid=avoid, rng=random.Random(7), claims_dir=tmp_path)
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


def test_a_port_in_use_is_never_handed_out(tmp_path: Path) -> None:
    low, _ = ephemeral_range()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", low - 1))
        taken.listen()
        assert free_listen_ports(1, rng=_Draws([low - 1, low - 1, low - 3]), claims_dir=tmp_path) == [low - 3]


def test_without_room_below_the_range_the_kernel_chooses(tmp_path: Path) -> None:
    everything = tmp_path / "range"
    everything.write_text("1024\t65535\n")
    assert ephemeral_range(everything) == (1024, 65535)
    ports = free_listen_ports(3, range_file=everything)
    assert len(set(ports)) == 3 and all(port >= 1024 for port in ports)
    assert ephemeral_range(tmp_path / "missing") == (32768, 60999)


def test_a_free_port_another_cluster_claimed_is_not_handed_out_until_its_claim_is_stale(tmp_path: Path) -> None:
    low, _ = ephemeral_range()
    claimed, other = low - 5, low - 7
    own_claims([claimed], "/runs/a/cluster", tmp_path)  # a's node on `claimed` is powered off: nothing binds it
    assert free_listen_ports(1, rng=_Draws([claimed, other]), claims_dir=tmp_path) == [other]
    assert (tmp_path / str(other)).exists(), "a port handed out is claimed"
    assert not claim_port(claimed, tmp_path, owner="/runs/b/cluster")
    assert claim_port(claimed, tmp_path, owner="/runs/a/cluster"), "a's own claim is a's"
    later_s = time.time() + CLAIM_TTL_S + 1
    assert claim_port(claimed, tmp_path, owner="/runs/b/cluster", now_s=later_s), "a claim left behind expires"
    assert (tmp_path / str(claimed)).read_text() == "/runs/b/cluster"


def test_release_drops_only_the_owners_claims(tmp_path: Path) -> None:
    own_claims([2001, 2002], "a", tmp_path)
    own_claims([2003], "b", tmp_path)
    release_claims([2001, 2002, 2003, 2004], "a", tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["2003"]
    assert claim_port(2001, tmp_path) and not claim_port(2003, tmp_path)


def test_without_a_writable_claims_directory_free_ports_are_still_handed_out(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")  # a file where the directory should be: no claim can be written
    assert len(free_listen_ports(2, claims_dir=blocked / "claims")) == 2
