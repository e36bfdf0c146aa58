"""Live progress of a run in the terminal: phase, throughput and error rate, canary availability.

It tails the files the run is writing (history shards, canary records) from where it last stopped,
so each report costs only the new lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from cluster.storage.json_lines import parse_json_objects

REPORT_EVERY_S = 5.0


class _Tail:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def new_lines(self) -> list[bytes]:
        try:
            with open(self.path, "rb") as file:
                file.seek(self.offset)
                data = file.read()
        except OSError:
            return []
        complete = data.rfind(b"\n") + 1  # a half-written last line waits for the next report
        self.offset += complete
        return data[:complete].splitlines()


class ProgressReporter:
    def __init__(self, run_dir: Path, say: Callable[[str], None], start_s: float, total_s: float) -> None:
        self.run_dir = run_dir
        self.say = say
        self.start_s = start_s
        self.total_s = total_s
        self.last_report_s = start_s
        self.last_phase = ""
        self.tails: dict[Path, _Tail] = {}

    def _tail(self, path: Path) -> list[bytes]:
        tail = self.tails.get(path)
        if tail is None:
            tail = self.tails[path] = _Tail(path)
        return tail.new_lines()

    def maybe_report(self, phase: str) -> None:
        now = time.monotonic()
        if phase != self.last_phase:
            self.say(f"[{now - self.start_s:6.1f}s] phase: {phase}")
            self.last_phase = phase
        if now - self.last_report_s < REPORT_EVERY_S:
            return
        interval_s = now - self.last_report_s
        self.last_report_s = now
        ok = failed = 0
        for shard in sorted(self.run_dir.glob("load-*/shards/*.jsonl")):
            for event in parse_json_objects(self._tail(shard)):
                if event.get("type") == "ok":
                    ok += 1
                elif event.get("type") in ("fail", "info"):
                    failed += 1
        probes = probe_errors = 0
        for record in parse_json_objects(self._tail(self.run_dir / "canaries.jsonl")):
            probes += 1
            if record.get("outcome") in ("error", "mismatch"):
                probe_errors += 1
        completed = ok + failed
        done = min(1.0, (now - self.start_s) / self.total_s)
        bar = "#" * int(done * 20) + "-" * (20 - int(done * 20))
        self.say(
            f"[{now - self.start_s:6.1f}s/{self.total_s:.0f}s] [{bar}] {phase:<9} "
            f"ops/s {completed / interval_s:7.1f}  errors {100 * failed / completed if completed else 0:5.1f}%  "
            f"canary availability {100 * (1 - probe_errors / probes) if probes else 0:5.1f}%"
        )
