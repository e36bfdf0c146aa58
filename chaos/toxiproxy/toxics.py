"""Toxic types as pure, per-connection transformations of timed chunks.

A toxic sees data as `Segment`s (bytes plus the monotonic time at which they may be
written on) and answers with the segments to write and, maybe, a `Termination` (close or
reset the connection at a given time). No sockets, no clock, no global random: the
caller passes `now_s` and a `random.Random`, so every decision is replayable in a test.

Semantics follow Shopify Toxiproxy 2.x (toxics/*.go); where they differ it is said below.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping
from dataclasses import dataclass

# Attributes of each toxic type with their defaults (Toxiproxy decodes missing fields as 0).
TOXIC_ATTRIBUTE_DEFAULTS: Mapping[str, Mapping[str, int]] = {
    "latency": {"latency": 0, "jitter": 0},  # milliseconds
    "bandwidth": {"rate": 0},  # KB/s (1 KB = 1000 bytes, as in Toxiproxy); 0 = unlimited
    "slow_close": {"delay": 0},  # milliseconds
    "timeout": {"timeout": 0},  # milliseconds; 0 = never close, only drop data
    "reset_peer": {"timeout": 0},  # milliseconds before the TCP RST
    "slicer": {"average_size": 0, "size_variation": 0, "delay": 0},  # bytes, bytes, microseconds
    "limit_data": {"bytes": 0},
}

# Bandwidth releases at most this much time's worth of bytes per segment, so a slow rate
# trickles data instead of holding a whole 64 KiB read back (Toxiproxy does the same).
BANDWIDTH_SLICE_S = 0.1


@dataclass(frozen=True)
class Segment:
    data: bytes
    release_at_s: float  # monotonic time before which the bytes must not be written


class TerminationKind(enum.Enum):
    CLOSE = "close"  # orderly close (FIN) of both sides of the connection
    RESET = "reset"  # TCP RST (SO_LINGER 0) on the stream's destination, close of the other side


@dataclass(frozen=True)
class Termination:
    kind: TerminationKind
    at_s: float


@dataclass(frozen=True)
class Transformed:
    segments: list[Segment]
    termination: Termination | None = None


class ToxicBehaviour:
    """The state of one toxic on one direction of one connection. The default passes data through."""

    def on_activate(self, now_s: float) -> Termination | None:
        """Called when the toxic starts applying to a connection (new connection or toxic added)."""
        return None

    def transform(self, segments: list[Segment], now_s: float) -> Transformed:
        return Transformed(segments)

    def on_end_of_stream(self, close_at_s: float) -> float:
        """The source closed; return when the close may be passed on."""
        return close_at_s

    def on_remove(self, now_s: float) -> Termination | None:
        return None


class LatencyBehaviour(ToxicBehaviour):
    """Holds each chunk for latency ± jitter ms after it arrived; order is kept (a FIFO pipe)."""

    def __init__(self, latency_ms: int, jitter_ms: int, rng: random.Random) -> None:
        self.latency_ms = latency_ms
        self.jitter_ms = jitter_ms
        self.rng = rng
        self.last_release_at_s = float("-inf")

    def delay_s(self) -> float:
        delay_ms = self.latency_ms
        if self.jitter_ms > 0:
            delay_ms += self.rng.randrange(2 * self.jitter_ms) - self.jitter_ms
        return max(delay_ms, 0) / 1000

    def transform(self, segments: list[Segment], now_s: float) -> Transformed:
        delayed = []
        for segment in segments:
            release_at_s = max(segment.release_at_s + self.delay_s(), self.last_release_at_s)
            self.last_release_at_s = release_at_s
            delayed.append(Segment(segment.data, release_at_s))
        return Transformed(delayed)


class BandwidthBehaviour(ToxicBehaviour):
    """Releases bytes no faster than rate KB/s, in slices of at most 100 ms worth of data."""

    def __init__(self, rate_kilobytes_per_s: int) -> None:
        self.rate_bytes_per_s = rate_kilobytes_per_s * 1000
        self.link_free_at_s = float("-inf")

    def transform(self, segments: list[Segment], now_s: float) -> Transformed:
        if self.rate_bytes_per_s <= 0:
            return Transformed(segments)
        slice_bytes = max(1, int(self.rate_bytes_per_s * BANDWIDTH_SLICE_S))
        limited = []
        for segment in segments:
            sent_at_s = max(segment.release_at_s, self.link_free_at_s)
            for start in range(0, len(segment.data), slice_bytes):
                piece = segment.data[start : start + slice_bytes]
                sent_at_s += len(piece) / self.rate_bytes_per_s
                limited.append(Segment(piece, sent_at_s))
            self.link_free_at_s = sent_at_s
        return Transformed(limited)


class SlowCloseBehaviour(ToxicBehaviour):
    def __init__(self, delay_ms: int) -> None:
        self.delay_ms = delay_ms

    def on_end_of_stream(self, close_at_s: float) -> float:
        return close_at_s + self.delay_ms / 1000


class TimeoutBehaviour(ToxicBehaviour):
    """Drops all data; closes the connection `timeout` ms after the toxic became active (0: never).

    Toxiproxy restarts its timer whenever a chunk is dropped; we count from activation,
    which is what its documentation says. Removing the toxic closes the connection, as
    Toxiproxy's Cleanup does: data was lost, so the stream cannot be trusted any more.
    """

    def __init__(self, timeout_ms: int) -> None:
        self.timeout_ms = timeout_ms

    def on_activate(self, now_s: float) -> Termination | None:
        if self.timeout_ms <= 0:
            return None
        return Termination(TerminationKind.CLOSE, now_s + self.timeout_ms / 1000)

    def transform(self, segments: list[Segment], now_s: float) -> Transformed:
        return Transformed([])

    def on_remove(self, now_s: float) -> Termination | None:
        return Termination(TerminationKind.CLOSE, now_s)


class ResetPeerBehaviour(ToxicBehaviour):
    """On the first data after activation: drop it and reset the connection `timeout` ms later."""

    def __init__(self, timeout_ms: int) -> None:
        self.timeout_ms = timeout_ms

    def transform(self, segments: list[Segment], now_s: float) -> Transformed:
        if not segments:
            return Transformed([])
        return Transformed([], Termination(TerminationKind.RESET, now_s + self.timeout_ms / 1000))


class SlicerBehaviour(ToxicBehaviour):
    """Splits each chunk into pieces of about average_size ± size_variation bytes, delay µs apart."""

    def __init__(self, average_size: int, size_variation: int, delay_us: int, rng: random.Random) -> None:
        assert average_size > 0, "validated by the API layer"
        self.average_size = average_size
        self.size_variation = size_variation
        self.delay_s = delay_us / 1_000_000
        self.rng = rng

    def cut_points(self, size: int) -> list[int]:
        """Offsets where the chunk is cut, 0 and size included. Iterative halving, as Toxiproxy recurses."""
        points = [0]
        pending = [(0, size)]
        while pending:
            start, end = pending.pop()
            if (end - start) - self.average_size <= self.size_variation:
                points.append(end)
                continue
            variation = self.rng.randrange(2 * self.size_variation) - self.size_variation if self.size_variation else 0
            middle = min(max(start + (end - start) // 2 + variation, start + 1), end - 1)
            pending.append((middle, end))  # popped after the left half: points stay sorted
            pending.append((start, middle))
        return points

    def transform(self, segments: list[Segment], now_s: float) -> Transformed:
        sliced = []
        for segment in segments:
            points = self.cut_points(len(segment.data))
            for index in range(len(points) - 1):
                piece = segment.data[points[index] : points[index + 1]]
                sliced.append(Segment(piece, segment.release_at_s + index * self.delay_s))
        return Transformed(sliced)


class LimitDataBehaviour(ToxicBehaviour):
    """Passes the first `bytes` bytes of the connection's direction, then closes the connection."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self.transmitted_bytes = 0

    def transform(self, segments: list[Segment], now_s: float) -> Transformed:
        passed: list[Segment] = []
        for segment in segments:
            remaining_bytes = self.limit_bytes - self.transmitted_bytes
            if remaining_bytes <= 0:
                break
            piece = segment.data[:remaining_bytes]
            self.transmitted_bytes += len(piece)
            passed.append(Segment(piece, segment.release_at_s))
        if self.transmitted_bytes >= self.limit_bytes:
            close_at_s = passed[-1].release_at_s if passed else now_s
            return Transformed(passed, Termination(TerminationKind.CLOSE, close_at_s))
        return Transformed(passed)


def build_behaviour(toxic_type: str, attributes: Mapping[str, int], rng: random.Random) -> ToxicBehaviour:
    """A fresh per-connection state for a validated toxic definition."""
    if toxic_type == "latency":
        return LatencyBehaviour(attributes["latency"], attributes["jitter"], rng)
    if toxic_type == "bandwidth":
        return BandwidthBehaviour(attributes["rate"])
    if toxic_type == "slow_close":
        return SlowCloseBehaviour(attributes["delay"])
    if toxic_type == "timeout":
        return TimeoutBehaviour(attributes["timeout"])
    if toxic_type == "reset_peer":
        return ResetPeerBehaviour(attributes["timeout"])
    if toxic_type == "slicer":
        return SlicerBehaviour(attributes["average_size"], attributes["size_variation"], attributes["delay"], rng)
    if toxic_type == "limit_data":
        return LimitDataBehaviour(attributes["bytes"])
    raise ValueError(f"unknown toxic type {toxic_type!r}")
