"""The ordered toxics applying to one direction of one connection (pure: no I/O, no clock).

Toxicity is rolled once per connection and toxic, when the toxic starts applying to the
connection, as Toxiproxy does: a connection either suffers a toxic or is spared by it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace

from chaos.toxiproxy.toxics import (
    Segment,
    Termination,
    TerminationKind,
    ToxicBehaviour,
    Transformed,
    build_behaviour,
)


@dataclass
class ChainLink:
    name: str
    behaviour: ToxicBehaviour | None  # None: the toxicity roll spared this connection


def roll_behaviour(
    toxic_type: str, attributes: Mapping[str, int], toxicity: float, rng: random.Random
) -> ToxicBehaviour | None:
    """The toxic's state for a new connection, or None when the toxicity roll spares it."""
    if rng.random() >= toxicity:
        return None
    return build_behaviour(toxic_type, attributes, rng)


class DirectionChain:
    def __init__(self) -> None:
        self.links: list[ChainLink] = []

    @property
    def is_inert(self) -> bool:
        """True when no toxic acts: the runtime may then forward bytes without looking at them."""
        return all(link.behaviour is None for link in self.links)

    def add(self, name: str, behaviour: ToxicBehaviour | None, now_s: float) -> Termination | None:
        assert all(link.name != name for link in self.links), f"toxic {name} already in chain"
        self.links.append(ChainLink(name, behaviour))
        return behaviour.on_activate(now_s) if behaviour else None

    def replace(self, name: str, behaviour: ToxicBehaviour | None, now_s: float) -> Termination | None:
        """An updated toxic: a new state in the same place of the chain."""
        for link in self.links:
            if link.name == name:
                link.behaviour = behaviour
                return behaviour.on_activate(now_s) if behaviour else None
        raise KeyError(name)

    def remove(self, name: str, now_s: float) -> Termination | None:
        for index, link in enumerate(self.links):
            if link.name == name:
                del self.links[index]
                return link.behaviour.on_remove(now_s) if link.behaviour else None
        raise KeyError(name)

    def on_data(self, data: bytes, now_s: float) -> Transformed:
        """Runs a chunk read at now_s through every toxic, in order.

        The first toxic to terminate decides the termination; the toxics after it still
        see the data it let through, and may delay an orderly close (slow_close after
        limit_data, latency after limit_data), as closing travels down Toxiproxy's chain.
        """
        segments = [Segment(data, now_s)]
        termination: Termination | None = None
        for link in self.links:
            if link.behaviour is None:
                continue
            transformed = link.behaviour.transform(segments, now_s)
            segments = transformed.segments
            if termination is None:
                termination = transformed.termination
            elif termination.kind is TerminationKind.CLOSE:
                last_release_at_s = segments[-1].release_at_s if segments else termination.at_s
                close_at_s = link.behaviour.on_end_of_stream(max(termination.at_s, last_release_at_s))
                termination = replace(termination, at_s=close_at_s)
        return Transformed(segments, termination)

    def on_end_of_stream(self, now_s: float) -> Termination:
        close_at_s = now_s
        for link in self.links:
            if link.behaviour is not None:
                close_at_s = link.behaviour.on_end_of_stream(close_at_s)
        return Termination(TerminationKind.CLOSE, close_at_s)
