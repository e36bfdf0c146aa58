"""What a leader knows about one follower's log, and how fast it may send to it."""

from __future__ import annotations

import enum
from collections import deque


class ReplicationMode(enum.Enum):
    # We do not know where the follower's log diverges: one APPEND at a time until one is accepted.
    PROBE = "probe"
    # The follower accepted our last probe: stream APPENDs optimistically, up to the inflight bound.
    REPLICATE = "replicate"
    # It needs entries our log compacted away: a SNAPSHOT is on its way; nothing else until it answers.
    SNAPSHOT = "snapshot"


# Heartbeat rounds a SNAPSHOT may go unanswered before we send it again (it or its answer may be lost).
SNAPSHOT_RETRY_HEARTBEATS = 5


class FollowerProgress:
    def __init__(self, next_index: int, max_inflight: int, now_tick: int = 0) -> None:
        self.match_index = 0
        # The leader's tick when this follower last answered (or when we started tracking it): how long
        # a member has been silent is what tells a leader it needs a log replica.
        self.last_heard_tick = now_tick
        self.next_index = next_index
        self.mode = ReplicationMode.PROBE
        # PROBE: an APPEND is outstanding; cleared by its answer or by the next heartbeat (it may be lost).
        self.probe_sent = False
        # REPLICATE: the last index of each outstanding APPEND, oldest first.
        self.inflight: deque[int] = deque()
        self.max_inflight = max_inflight
        # Heard from this follower since the last CheckQuorum round.
        self.recently_active = False
        # The highest lease stamp this follower echoed in the current term.
        self.acknowledged_lease_stamp: int | None = None
        # Heartbeat rounds in REPLICATE mode without match_index moving while entries were outstanding.
        self.stalled_heartbeats = 0
        self.match_at_last_heartbeat = 0
        # SNAPSHOT: the index of the snapshot we sent.
        self.pending_snapshot = 0

    def can_send_entries(self) -> bool:
        if self.mode is ReplicationMode.SNAPSHOT:
            return False
        if self.mode is ReplicationMode.PROBE:
            return not self.probe_sent
        return len(self.inflight) < self.max_inflight

    def sent_snapshot(self, index: int) -> None:
        self.mode = ReplicationMode.SNAPSHOT
        self.pending_snapshot = index
        self.inflight.clear()
        self.stalled_heartbeats = 0

    def sent_entries(self, last_index: int) -> None:
        if self.mode is ReplicationMode.PROBE:
            self.probe_sent = True
        else:
            self.next_index = last_index + 1
            self.inflight.append(last_index)

    def acknowledged(self, index: int) -> bool:
        """The follower's log matches ours through index. Returns whether match_index moved."""
        while self.inflight and self.inflight[0] <= index:
            self.inflight.popleft()
        moved = index > self.match_index
        if moved:
            self.match_index = index
            self.next_index = max(self.next_index, index + 1)
        if self.mode is ReplicationMode.SNAPSHOT:
            if index >= self.pending_snapshot:
                # Installed (or it already had as much): stream what follows it.
                self.mode = ReplicationMode.REPLICATE
                self.next_index = index + 1
            return moved
        if self.mode is ReplicationMode.PROBE and index >= self.next_index - 1:
            # Our probe (not merely a heartbeat below it) was accepted: the logs agree, start streaming.
            self.mode = ReplicationMode.REPLICATE
            self.probe_sent = False
            self.next_index = index + 1
        return moved

    def rejected(self, rejected_index: int, hint: int) -> bool:
        """The follower's log does not match at rejected_index. Returns whether we should resend."""
        if self.mode is ReplicationMode.SNAPSHOT:
            return False  # an answer to an APPEND sent before the snapshot: the snapshot settles it
        if self.mode is ReplicationMode.REPLICATE:
            # An answer to an APPEND older than our last retry, or to one already known to match: stale.
            if rejected_index <= self.match_index:
                return False
        elif rejected_index != self.next_index - 1:
            return False
        self.become_probing(min(rejected_index, hint + 1))
        return True

    def become_probing(self, next_index: int) -> None:
        self.mode = ReplicationMode.PROBE
        self.probe_sent = False
        self.inflight.clear()
        self.next_index = max(self.match_index + 1, next_index)
        self.stalled_heartbeats = 0

    def on_heartbeat(self, last_index: int) -> None:
        """Each heartbeat round: let a lost probe be retried, and give up streaming into a void."""
        self.probe_sent = False
        if self.mode is ReplicationMode.SNAPSHOT:
            self.stalled_heartbeats += 1
            if self.stalled_heartbeats >= SNAPSHOT_RETRY_HEARTBEATS:
                self.become_probing(self.match_index + 1)  # the next send finds the prefix gone: a snapshot again
        elif self.mode is ReplicationMode.REPLICATE:
            stuck = self.match_index == self.match_at_last_heartbeat and self.match_index < last_index
            self.stalled_heartbeats = self.stalled_heartbeats + 1 if stuck else 0
            if self.stalled_heartbeats >= 2:
                # The APPENDs after match_index were probably lost: resend from there.
                self.become_probing(self.match_index + 1)
        self.match_at_last_heartbeat = self.match_index
