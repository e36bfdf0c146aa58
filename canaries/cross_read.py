"""Cross-endpoint read-after-write: what a canary wrote through its own AZ's endpoint, read through another.

A stale consistent read needs a write through the new majority and a read through a router that still
routes to the old leader. A probe that writes and reads through one endpoint cannot see it: when that
endpoint's leader is deposed, its own write fails too and its read is then only judged for availability.
So after each acknowledged write through the canary's own AZ's endpoint, every other endpoint reads the
key consistently; an answer older than the write (or none) is a ``mismatch``: a data alarm, never mere
unavailability (an error stays an ``error``).

One `CrossReader` per other endpoint, each on its own thread with its own client: a dead or hung
endpoint only delays its own cross reads (bounded by the request timeouts), never the canary's probes
or the other cross reads. The writer hands over the latest acknowledged write without waiting; a reader
still busy with an earlier one skips to the newest (a mailbox of one).
"""

from __future__ import annotations

import threading
from typing import Any

from canaries.outcomes import classify_read
from canaries.probe import HASH_KEY_ATTRIBUTE, Clock, ProbeTarget, Record, WrittenProbe, run_step

CROSS_READ = "cross_read"


class CrossReader:
    """Reads, through one endpoint, the writes another endpoint acknowledged. Not thread-safe except
    `offer`, which any thread may call."""

    def __init__(self, target: ProbeTarget, client: Any, record: Record, clock: Clock, wall_clock: Clock) -> None:
        self._target = target
        self._client = client
        self._record = record
        self._clock = clock
        self._wall_clock = wall_clock
        self._pending: WrittenProbe | None = None
        self._changed = threading.Condition()
        self.reads_done = 0
        self.offers_skipped = 0  # acknowledged writes replaced by a newer one before this reader got to them

    @property
    def endpoint_az(self) -> str:
        return self._target.endpoint_az

    def offer(self, written: WrittenProbe) -> None:
        """Hand over an acknowledged write; never blocks on the read."""
        with self._changed:
            if self._pending is not None:
                self.offers_skipped += 1
            self._pending = written
            self._changed.notify()

    def take(self, timeout_s: float) -> WrittenProbe | None:
        """The newest write not read yet, waiting up to ``timeout_s`` for one."""
        with self._changed:
            if self._pending is None:
                self._changed.wait(timeout_s)
            written, self._pending = self._pending, None
            return written

    def read(self, written: WrittenProbe) -> None:
        """One consistent read of ``written.key`` through this endpoint, recorded. Never raises for a failed request."""
        self.reads_done += 1
        key = {HASH_KEY_ATTRIBUTE: {"S": written.key}}
        run_step(
            self._target,
            CROSS_READ,
            lambda: self._client.get_item(TableName=self._target.table, Key=key, ConsistentRead=True).get("Item"),
            lambda item: classify_read(CROSS_READ, written.sequence, item),
            self._record,
            self._clock,
            self._wall_clock,
            {
                "key": written.key,
                "sequence": written.sequence,
                "written_endpoint_az": written.endpoint_az,
                "written_endpoint": written.endpoint_url,
                "write_acknowledged_s": written.acknowledged_s,
            },
        )

    def run(self, stop: threading.Event, poll_s: float = 0.2) -> None:
        """Read every write handed over (the newest, when several queued) until ``stop`` is set."""
        while not stop.is_set():
            written = self.take(poll_s)
            if written is not None and not stop.is_set():
                self.read(written)
