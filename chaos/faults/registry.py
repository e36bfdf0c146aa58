"""Which injector applies which fault kind.

A scenario may name any kind of the catalogue (chaos/faults/kinds.py); a run refuses, before anything
starts, a kind with no injector registered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from chaos.faults.bit_rot import BitRot
from chaos.faults.cache_flush import CacheFlush
from chaos.faults.clock_skew import ClockSkew
from chaos.faults.coordinator_kill import KillCoordinator
from chaos.faults.flapping import FLAPPING_INJECTORS
from chaos.faults.injector import FaultInjector
from chaos.faults.kinds import FAULT_KINDS
from chaos.faults.lagging_election import LaggingElection
from chaos.faults.leader_churn import LeaderChurn
from chaos.faults.network_faults import (
    NETWORK_INJECTORS,
    NO_LINKS_MESSAGE,
    NetworkLinksUnavailable,
    proxied_links_of,
)
from chaos.faults.power_loss import ClusterPowerOff
from chaos.faults.process_faults import AzPowerOff, KillLeader, Pause, PowerOff
from chaos.faults.random_subset_kill import KillRandomSubset

InjectorFactory = Callable[[Mapping[str, Any]], FaultInjector]

# Why a kind of the catalogue has no injector in a registry, by family (a custom registry may omit some).
_WHY_MISSING = {
    "disk": "needs a disk-fault injector: none registered",
    "clock": "needs a clock injector: none registered",
}


class UnsupportedFaultError(Exception):
    """A scenario names a fault kind that nothing here can apply."""


class InjectorRegistry:
    def __init__(self, factories: Mapping[str, InjectorFactory] | None = None) -> None:
        self._factories: dict[str, InjectorFactory] = dict(factories or {})

    def register(self, kind: str, factory: InjectorFactory) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"{kind!r} is not in the fault catalogue (chaos/faults/kinds.py)")
        self._factories[kind] = factory

    def supports(self, kind: str) -> bool:
        return kind in self._factories

    def check(self, kinds: Iterable[str], cluster: object | None = None) -> None:
        """Raises UnsupportedFaultError naming every kind that cannot be applied, and why.

        Given the cluster, also refuses network kinds when it has no proxied links, before anything starts.
        """
        problems = []
        kinds = sorted(set(kinds))
        for kind in kinds:
            if kind in self._factories:
                continue
            spec = FAULT_KINDS.get(kind)
            reason = _WHY_MISSING.get(spec.family, "no injector registered") if spec else "unknown fault kind"
            problems.append(f"{kind}: {reason}")
        # A backend may be unable to apply a kind (Docker keeps node data on volumes: no bit-rot).
        unsupported = getattr(cluster, "unsupported_fault_kinds", None)
        if callable(unsupported):
            problems += [f"{kind}: {why}" for kind, why in sorted(unsupported().items()) if kind in kinds]
        network_kinds = [
            kind for kind in kinds if kind in self._factories and kind in FAULT_KINDS and FAULT_KINDS[kind].family == "network"
        ]
        if cluster is not None and network_kinds:
            try:
                proxied_links_of(cluster)
            except NetworkLinksUnavailable:
                problems.append(f"{', '.join(network_kinds)}: {NO_LINKS_MESSAGE}")
        if problems:
            raise UnsupportedFaultError("cannot apply fault kind(s): " + "; ".join(problems))

    def create(self, kind: str, target: Mapping[str, Any]) -> FaultInjector:
        self.check([kind])
        return self._factories[kind](target)


def default_registry() -> InjectorRegistry:
    return InjectorRegistry(
        {
            "power-off": PowerOff,
            "pause": Pause,
            "kill-leader": KillLeader,
            "az-power-off": AzPowerOff,
            "cluster-power-off": ClusterPowerOff,
            "bit-rot": BitRot,
            "clock-skew": ClockSkew,
            "cache-flush": CacheFlush,
            "leader-churn": LeaderChurn,
            "lagging-election": LaggingElection,
            "kill-random-subset": KillRandomSubset,
            "kill-coordinator": KillCoordinator,
            **NETWORK_INJECTORS,
            **FLAPPING_INJECTORS,
        }
    )
