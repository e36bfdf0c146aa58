"""The steady-state probe behind a scenario's stop condition: canary availability, live, over a
sliding window of the records the canaries are writing."""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path

# Fewer probe steps than this in the window say nothing either way: not red.
MINIMUM_SAMPLES = 5


class CanaryAvailabilityProbe:
    def __init__(self, records_path: Path, window_s: float, floor: float) -> None:
        self.records_path = records_path
        self.window_s = window_s
        self.floor = floor
        self._offset = 0
        self._recent: deque[tuple[float, bool]] = deque()
        self.last_availability: float | None = None

    def _read_new(self) -> None:
        try:
            with open(self.records_path, "rb") as file:
                file.seek(self._offset)
                data = file.read()
        except OSError:
            return
        complete = data.rfind(b"\n") + 1
        self._offset += complete
        for line in data[:complete].splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            self._recent.append((float(record["time_s"]), record["outcome"] in ("ok", "stale")))

    def is_red(self) -> bool:
        self._read_new()
        if not self._recent:
            return False
        newest_s = self._recent[-1][0]
        while self._recent and self._recent[0][0] < newest_s - self.window_s:
            self._recent.popleft()
        if len(self._recent) < MINIMUM_SAMPLES:
            return False
        self.last_availability = sum(ok for _, ok in self._recent) / len(self._recent)
        return self.last_availability < self.floor
