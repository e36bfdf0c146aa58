"""Timing and batching knobs of one Raft replica, in ticks (the runtime decides how long a tick is)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RaftConfig:
    # A follower waits at least this long without hearing a leader before it campaigns, and refuses
    # to vote for anyone else for this long after hearing one (leader stickiness, which leases rely on).
    election_ticks_min: int = 10
    # The election timeout is drawn from [election_ticks_min, election_ticks_max) with the injected rng,
    # so that replicas rarely time out together and split the vote.
    election_ticks_max: int = 20
    heartbeat_ticks: int = 2
    # Must stay below election_ticks_min: the margin covers tick-rate drift between nodes.
    lease_ticks: int = 7
    max_entries_per_append: int = 512
    max_bytes_per_append: int = 1 << 20
    # Pipelining: how many APPENDs may be outstanding to one follower before we wait for answers.
    max_inflight_appends: int = 32
    pre_vote: bool = True
    check_quorum: bool = True
    # PLANTED BUG, for the harness's self-tests only (`--planted-bug forget-on-leader-change`): a new
    # leader drops every entry past its own commit index, breaking Raft's Leader Append-Only property,
    # so entries the old leader had committed are lost. False changes nothing.
    unsafe_truncate_uncommitted_on_election: bool = False
    # PLANTED BUG `deposed-leader-reads`: a leader cut off from its quorum neither steps down (CheckQuorum)
    # nor checks its lease before a consistent read, so once a new leader commits it serves stale reads.
    unsafe_deposed_leader_reads: bool = False
    # PLANTED BUG `churn-commit-bug` (Raft's Figure 8): a leader commits an earlier term's entry by
    # counting the replicas that hold it, which a later leader may then overwrite.
    unsafe_commit_previous_term_by_counting: bool = False
    # PLANTED BUG `eager-step-down`: a leader steps down whenever any single voter was silent for a whole
    # CheckQuorum round, not only when it lost a quorum. Safe for data; costs availability.
    unsafe_eager_step_down: bool = False
    # PLANTED BUG `vote-ignores-log`: a voter grants its (pre-)vote without Raft's election restriction
    # (§5.4.1), so a candidate whose log lacks committed entries can win and overwrite them. It needs an
    # election in which a lagging replica times out first: fast leader churn makes those common.
    unsafe_vote_ignores_log: bool = False

    def __post_init__(self) -> None:
        if self.election_ticks_min < 1:
            raise ValueError(f"election_ticks_min must be >= 1, got {self.election_ticks_min}")
        if self.election_ticks_max <= self.election_ticks_min:
            raise ValueError(
                f"election_ticks_max ({self.election_ticks_max}) must exceed "
                f"election_ticks_min ({self.election_ticks_min}): the timeout is drawn from [min, max)"
            )
        if not 1 <= self.heartbeat_ticks < self.election_ticks_min:
            raise ValueError(
                f"heartbeat_ticks ({self.heartbeat_ticks}) must be in [1, election_ticks_min="
                f"{self.election_ticks_min}) or followers would time out between heartbeats"
            )
        if not 1 <= self.lease_ticks < self.election_ticks_min:
            raise ValueError(
                f"lease_ticks ({self.lease_ticks}) must be in [1, election_ticks_min={self.election_ticks_min}):"
                " a lease longer than leader stickiness would let two leaders serve reads"
            )
        for name in ("max_entries_per_append", "max_bytes_per_append", "max_inflight_appends"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
