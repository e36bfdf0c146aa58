"""The ``canaries.jsonl`` writer: one JSON object per line, safe to share between threads and processes.

Every line goes out in a single ``write(2)`` on a file opened with ``O_APPEND``, so the
canary processes of several AZs can append to one file without interleaving lines.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class JsonLinesRecorder:
    """Appends records to ``path``; call it as the canary's ``record``."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._descriptor: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def __call__(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n").encode()
        with self._lock:
            if self._descriptor is None:
                raise RuntimeError(f"recorder for {self.path} is closed")
            written = os.write(self._descriptor, line)
            # A short write only happens when the disk is full; a torn line must not pass silently.
            if written != len(line):
                raise OSError(f"short write to {self.path}: {written} of {len(line)} bytes")

    def close(self) -> None:
        with self._lock:
            if self._descriptor is not None:
                os.close(self._descriptor)
                self._descriptor = None


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a ``canaries.jsonl`` file; a torn last line (a killed writer) is skipped."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.endswith("\n"):
                return
            if line.strip():
                yield json.loads(line)


def read_all_records(path: Path) -> list[dict[str, Any]]:
    """Every record of a ``canaries.jsonl`` file; none when the canaries never wrote it."""
    return list(read_records(path)) if path.exists() else []
