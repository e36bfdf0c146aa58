"""The pure toxic core: timed transformations with an explicit clock and a seeded random."""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.toxiproxy.toxic_chain import DirectionChain, roll_behaviour
from chaos.toxiproxy.toxics import (
    BandwidthBehaviour,
    LatencyBehaviour,
    LimitDataBehaviour,
    ResetPeerBehaviour,
    Segment,
    SlicerBehaviour,
    SlowCloseBehaviour,
    Termination,
    TerminationKind,
    TimeoutBehaviour,
    build_behaviour,
)

PURE_MODULES = ("toxics.py", "toxic_chain.py", "definitions.py", "api_errors.py")
IMPURE_IMPORTS = {"asyncio", "socket", "time", "selectors", "subprocess", "threading"}


@pytest.mark.parametrize("module_name", PURE_MODULES)
def test_core_modules_import_no_io(module_name: str) -> None:
    source = (Path(__file__).parents[2] / "chaos" / "toxiproxy" / module_name).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & IMPURE_IMPORTS


def test_latency_delays_from_arrival_and_keeps_order() -> None:
    latency = LatencyBehaviour(100, 50, random.Random(7))
    released = latency.transform([Segment(b"a", 10.0), Segment(b"b", 10.001)], now_s=10.0).segments
    assert [segment.data for segment in released] == [b"a", b"b"]
    assert all(10.05 <= segment.release_at_s <= 10.151 for segment in released)
    assert released[0].release_at_s <= released[1].release_at_s


def test_latency_jitter_is_replayable_by_seed() -> None:
    def releases(seed: int) -> list[float]:
        latency = LatencyBehaviour(100, 50, random.Random(seed))
        return [latency.transform([Segment(b"x", float(i))], float(i)).segments[0].release_at_s for i in range(20)]

    assert releases(3) == releases(3)
    assert releases(3) != releases(4)


@given(sizes=st.lists(st.integers(1, 5000), min_size=1, max_size=20), rate=st.integers(1, 500))
@settings(max_examples=50, deadline=None)
def test_bandwidth_never_exceeds_its_rate(sizes: list[int], rate: int) -> None:
    bandwidth = BandwidthBehaviour(rate)
    segments = [Segment(b"x" * size, 0.0) for size in sizes]
    released = bandwidth.transform(segments, 0.0).segments
    assert b"".join(segment.data for segment in released) == b"".join(segment.data for segment in segments)
    sent_bytes = 0
    for segment in released:
        sent_bytes += len(segment.data)
        assert segment.release_at_s >= sent_bytes / (rate * 1000) - 1e-9
        assert len(segment.data) <= max(1, rate * 100)
    assert released[-1].release_at_s == pytest.approx(sum(sizes) / (rate * 1000))


def test_bandwidth_zero_rate_is_unlimited() -> None:
    segments = [Segment(b"x" * 100_000, 1.0)]
    assert BandwidthBehaviour(0).transform(segments, 1.0).segments == segments


@given(
    data=st.binary(min_size=1, max_size=3000),
    average_size=st.integers(1, 200),
    variation_fraction=st.floats(0, 0.99),
    seed=st.integers(0, 2**32),
)
@settings(max_examples=100, deadline=None)
def test_slicer_loses_nothing_and_cuts_near_the_average(
    data: bytes, average_size: int, variation_fraction: float, seed: int
) -> None:
    size_variation = int(average_size * variation_fraction)
    slicer = SlicerBehaviour(average_size, size_variation, 1000, random.Random(seed))
    pieces = slicer.transform([Segment(data, 5.0)], 5.0).segments
    assert b"".join(piece.data for piece in pieces) == data
    assert all(piece.data for piece in pieces)
    assert all(len(piece.data) <= average_size + size_variation for piece in pieces)
    assert [piece.release_at_s for piece in pieces] == pytest.approx([5.0 + 0.001 * i for i in range(len(pieces))])


def test_limit_data_passes_the_limit_then_closes() -> None:
    limit = LimitDataBehaviour(10)
    first = limit.transform([Segment(b"123456", 1.0)], 1.0)
    assert first.segments == [Segment(b"123456", 1.0)] and first.termination is None
    second = limit.transform([Segment(b"789abc", 2.0)], 2.0)
    assert second.segments == [Segment(b"789a", 2.0)]
    assert second.termination == Termination(TerminationKind.CLOSE, 2.0)


def test_timeout_drops_data_and_closes_after_its_timeout() -> None:
    timeout = TimeoutBehaviour(500)
    assert timeout.on_activate(3.0) == Termination(TerminationKind.CLOSE, 3.5)
    assert timeout.transform([Segment(b"data", 3.1)], 3.1).segments == []
    assert TimeoutBehaviour(0).on_activate(3.0) is None
    assert timeout.on_remove(4.0) == Termination(TerminationKind.CLOSE, 4.0)


def test_reset_peer_resets_after_its_timeout_on_data() -> None:
    reset = ResetPeerBehaviour(200)
    assert reset.transform([], 1.0).termination is None
    assert reset.transform([Segment(b"x", 1.0)], 1.0).termination == Termination(TerminationKind.RESET, 1.2)


def test_chain_delays_a_limit_close_through_later_toxics() -> None:
    chain = DirectionChain()
    chain.add("limit", LimitDataBehaviour(3), 0.0)
    chain.add("latency", LatencyBehaviour(100, 0, random.Random(0)), 0.0)
    chain.add("slow", SlowCloseBehaviour(50), 0.0)
    outcome = chain.on_data(b"abcdef", 1.0)
    assert outcome.segments == [Segment(b"abc", pytest.approx(1.1))]
    assert outcome.termination is not None
    assert outcome.termination.kind is TerminationKind.CLOSE
    assert outcome.termination.at_s == pytest.approx(1.15)


def test_chain_end_of_stream_waits_for_slow_close_and_toxics_can_be_removed() -> None:
    chain = DirectionChain()
    assert chain.is_inert
    chain.add("slow", SlowCloseBehaviour(300), 0.0)
    assert not chain.is_inert
    assert chain.on_end_of_stream(2.0) == Termination(TerminationKind.CLOSE, 2.3)
    assert chain.remove("slow", 2.0) is None
    assert chain.is_inert and chain.on_end_of_stream(2.0).at_s == 2.0


def test_toxicity_is_a_per_connection_probability() -> None:
    rng = random.Random(11)
    attributes = {"latency": 10, "jitter": 0}
    assert all(roll_behaviour("latency", attributes, 0.0, rng) is None for _ in range(200))
    assert all(roll_behaviour("latency", attributes, 1.0, rng) is not None for _ in range(200))
    applied = sum(roll_behaviour("latency", attributes, 0.3, rng) is not None for _ in range(2000))
    assert 450 < applied < 750


def test_build_behaviour_rejects_unknown_types() -> None:
    with pytest.raises(ValueError):
        build_behaviour("corrupt", {}, random.Random())
