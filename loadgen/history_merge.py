"""Merge history shards (one per load worker, plus e.g. the orchestrator's nemesis file) into one.

Every process on one machine reads the same CLOCK_MONOTONIC, so `time` orders events across
shards. The merged file is renumbered and re-validated: two shards that reuse a process number
would interleave its operations, and the validator rejects that here rather than in the checker.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from verify.history import HistoryError, HistoryValidator, event_from_object


def _shard_events(path: Path, shard_number: int) -> Iterator[tuple[int, int, int, dict[str, Any]]]:
    with open(path, encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                document = json.loads(line)
            except json.JSONDecodeError as error:
                raise HistoryError(f"malformed JSON: {error.msg}", line_number, str(path)) from None
            time_ns = document.get("time") if isinstance(document, dict) else None
            if isinstance(time_ns, bool) or not isinstance(time_ns, int):
                raise HistoryError(f"'time' must be an integer, got {time_ns!r}", line_number, str(path))
            # (time, shard, line) keeps each shard's own order for equal times.
            yield time_ns, shard_number, line_number, document


def merge_histories(paths: list[Path], out: Path) -> int:
    """Write the events of all `paths` to `out` ordered by time, indexes 0..n-1. Returns n."""
    streams = [_shard_events(Path(path), number) for number, path in enumerate(paths)]
    validator = HistoryValidator()
    count = 0
    temporary = out.with_name(out.name + ".partial")
    try:
        with open(temporary, "w", encoding="utf-8") as merged:
            for _time_ns, shard_number, line_number, document in heapq.merge(
                *streams, key=lambda item: item[:3]
            ):
                document = {"index": count, **{name: item for name, item in document.items() if name != "index"}}
                try:
                    validator.accept(event_from_object(document, count + 1, count))
                except HistoryError as error:
                    raise HistoryError(
                        f"{error.reason} (from {paths[shard_number]}:{line_number})", count + 1, str(out)
                    ) from None
                merged.write(json.dumps(document, separators=(", ", ": ")) + "\n")
                count += 1
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    temporary.replace(out)  # a failed merge never leaves a half file that looks complete
    return count
