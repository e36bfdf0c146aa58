"""Deliberately wrong behaviours of the store, for testing the harness itself (never for real use).

A harness that cannot catch a planted bug proves nothing when it says "valid". Each name here is a
switch in `Topology.faults_enabled`, read by every process at start; `gameday run --planted-bug NAME`
sets it, and `gameday selftest` runs each with the game day that must catch it
(gameday/selftest_cases.toml). The correct code path is untouched while a switch is off.

Where each lives: the core's (RaftConfig fields, cluster/core/replica.py) are set for storage nodes by
`planted_raft_settings` in cluster/node/storage_node.py (forget-on-leader-change, older, for every
replica host in cluster/replication/replica_host.py); the WAL's (`PlantedSyncBugs`,
cluster/storage/wal.py) by `planted_sync_bugs`, also in the storage node; skip-fsync in replica_host.py;
ack-before-quorum in group_runner.py; stale-consistent-read in the storage node and the router;
hidden-group-crash in cluster/node/planted_apply_crash.py; txn-commit-without-votes in the router's
transaction coordinator (cluster/router/transactions.py); index-drop-on-leader-change in the node's index
propagator (cluster/node/index_propagator.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from cluster.storage.wal import PlantedSyncBugs

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
    "deposed-leader-reads": (
        "a partition leader cut off from its quorum keeps leading and serves consistent reads without a "
        "lease, stale once a new leader commits (linearizability / cross-endpoint canaries, with a "
        "partition that leaves a router beside the old leader)"
    ),
    "fsync-wrong-file": (
        "the WAL fsyncs its lock file instead of the segment it wrote, yet believes the write durable "
        "(only a power-loss model below the store, such as a FUSE layer, can see it)"
    ),
    "no-dir-fsync": (
        "the WAL creates segments (and its directory) without fsyncing the directory, so a power loss "
        "may drop a whole fsynced segment (only a power-loss model below the store can see it)"
    ),
    "churn-commit-bug": (
        "Raft's Figure 8: a leader commits an earlier term's entry by counting replicas, which a later "
        "leader may overwrite (linearizability, with fast leader churn)"
    ),
    "vote-ignores-log": (
        "a replica grants its vote without checking that the candidate's log is as up to date as its own "
        "(Raft's election restriction), so a lagging replica can win and overwrite committed writes "
        "(linearizability, with leader churn)"
    ),
    "eager-step-down": (
        "a partition leader steps down whenever any one follower was silent for an election timeout, "
        "not only when it lost its quorum: data stays correct, availability drops during single-node "
        "faults (availability regression against a baseline)"
    ),
    "hidden-group-crash": (
        "a partition replica raises while applying every 100th entry; its node closes the group and "
        "reopens it from the next metadata report: no data harmed, every group led again soon "
        "(store-errors: the logged exception and the closed group)"
    ),
    "txn-commit-without-votes": (
        "the transaction coordinator commits once any item voted yes, without every vote: a transfer "
        "refused on its source (too little money) still credits its target (bank: a wrong total)"
    ),
    "index-drop-on-leader-change": (
        "a node that becomes leader of a base partition drops the index changes waiting in its outbox, "
        "taking them for delivered by the old leader: an entry the table left stays in the index (index: "
        "the final read finds the index unequal to the table)"
    ),
    "crash-group-loop": (
        "a storage replica's group raises in its I/O loop every 150 applied entries; the node closes the "
        "group and the next metadata report reopens it, so only the logs show it (store-errors)"
    ),
}

# The planted bugs that live in the consensus core: RaftConfig field each switch sets.
RAFT_CONFIG_SWITCHES: dict[str, str] = {
    "deposed-leader-reads": "unsafe_deposed_leader_reads",
    "churn-commit-bug": "unsafe_commit_previous_term_by_counting",
    "eager-step-down": "unsafe_eager_step_down",
    "vote-ignores-log": "unsafe_vote_ignores_log",
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


def planted_raft_settings(faults_enabled: Iterable[str]) -> dict[str, bool]:
    """RaftConfig keyword arguments for the core's planted bugs that are switched on (empty when none)."""
    enabled = set(faults_enabled)
    return {field: True for name, field in RAFT_CONFIG_SWITCHES.items() if name in enabled}


def planted_sync_bugs(faults_enabled: Iterable[str]) -> PlantedSyncBugs | None:
    """The WAL's planted sync bugs that are switched on, or None when none is."""
    enabled = set(faults_enabled)
    if not enabled & {"fsync-wrong-file", "no-dir-fsync"}:
        return None
    return PlantedSyncBugs(fsync_wrong_file="fsync-wrong-file" in enabled, no_directory_fsync="no-dir-fsync" in enabled)
