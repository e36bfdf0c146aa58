"""Deliberately wrong behaviours of the store, for testing the harness itself (never for real use).

A harness that cannot catch a planted bug proves nothing when it says "valid". Each name here is a
switch in `Topology.faults_enabled`, read by every process at start; `gameday run --planted-bug NAME`
sets it. The correct code path is untouched while a switch is off.
"""

from __future__ import annotations

from collections.abc import Iterable

# name -> what the store does wrong when the switch is on (and which verifier should notice).
PLANTED_BUGS: dict[str, str] = {
    "ack-before-quorum": (
        "the leader answers a write once it is in its own WAL, before a quorum has it and before its "
        "condition is evaluated (linearizability)"
    ),
    "stale-consistent-read": (
        "ConsistentRead is served by any replica without the leader's lease (linearizability)"
    ),
    "skip-fsync": (
        "the WAL never fsyncs, so a power loss drops acknowledged writes (sets / linearizability, with "
        "the cluster-power-off fault)"
    ),
    "forget-on-leader-change": (
        "a new leader truncates its log to its own commit index, dropping entries the old leader "
        "committed (linearizability, with kill-leader)"
    ),
    "crash-group-loop": (
        "a storage replica's group raises in its I/O loop every 150 applied entries; the node closes the "
        "group and the next metadata report reopens it, so only the logs show it (store-errors)"
    ),
}


class UnknownPlantedBugError(ValueError):
    """A planted-bug name that the store does not know: naming the valid ones lets the user fix it."""


def check_planted_bugs(names: Iterable[str]) -> list[str]:
    """The names, deduplicated in order; raises UnknownPlantedBugError naming every valid one."""
    chosen = list(dict.fromkeys(names))
    unknown = [name for name in chosen if name not in PLANTED_BUGS]
    if unknown:
        raise UnknownPlantedBugError(
            f"unknown planted bug(s) {', '.join(unknown)}; valid: {', '.join(sorted(PLANTED_BUGS))}"
        )
    return chosen
