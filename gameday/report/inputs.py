"""Reading the files of a game-day run for the HTML report, tolerant of every way a run can end.

Every reader returns what it could read plus what it could not (a missing file, corrupt lines),
so the page can say what is missing instead of failing. The history is streamed: a run can
leave 100k+ lines, and only per-bucket counters are kept, never the events themselves.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verify.history import SYSTEM_PROCESSES

# History events are counted in 100 ms buckets from ``bucket_origin_s``: the run's t=0 when the
# summary gives it (then buckets fall exactly within seconds), else 0, when t=0 is only known at
# the end and re-binning into seconds is off by at most one bucket. Small on long runs either way.
BUCKETS_PER_SECOND = 10
NANOSECONDS_PER_BUCKET = 1_000_000_000 // BUCKETS_PER_SECOND

# A user locustfile's recorded operations (`--locustfile`) count in the throughput and the tables like ours.
HISTORY_FILE_NAMES = ("history.jsonl", "history-set.jsonl", "history-user.jsonl")
NEMESIS_FILE_NAME = "nemesis.jsonl"
CANARIES_FILE_NAME = "canaries.jsonl"
SUMMARY_FILE_NAME = "summary.json"
COMPLETION_TYPES = ("ok", "fail", "info")


@dataclass
class FileRead:
    """What happened when one input file was read."""

    name: str
    present: bool = False
    lines: int = 0
    corrupt_lines: int = 0
    error: str = ""  # why the file could not be read at all, when it could not


@dataclass(frozen=True)
class NemesisEvent:
    time_s: float  # absolute monotonic seconds
    function: str  # "start-power-off", "stop-power-off", "heal-all", ...
    value: Any


@dataclass
class HistoryDigest:
    """Counters of the client operations of the history files, and the nemesis events verbatim."""

    files: list[FileRead] = field(default_factory=list)
    ok_by_bucket: Counter[int] = field(default_factory=Counter)
    errors_by_bucket: Counter[int] = field(default_factory=Counter)  # fail + info completions
    counts: dict[str, Counter[str]] = field(default_factory=dict)  # f -> type -> completions
    unfinished: Counter[str] = field(default_factory=Counter)  # f -> invokes never completed
    nemesis: list[NemesisEvent] = field(default_factory=list)
    nemesis_source: str = ""  # the file the nemesis events came from
    bucket_origin_s: float = 0.0
    earliest_s: float | None = None
    latest_s: float | None = None

    @property
    def client_operations(self) -> int:
        return sum(sum(counter.values()) for counter in self.counts.values()) + sum(self.unfinished.values())


@dataclass(frozen=True)
class CanaryRecord:
    time_s: float  # absolute monotonic seconds
    canary_az: str
    endpoint_az: str
    operation: str
    outcome: str
    latency_ms: float | None


@dataclass
class CanaryDigest:
    file: FileRead
    records: list[CanaryRecord] = field(default_factory=list)


@dataclass
class SummaryRead:
    file: FileRead
    data: dict[str, Any] = field(default_factory=dict)


def read_summary(run_dir: Path) -> SummaryRead:
    path = run_dir / SUMMARY_FILE_NAME
    read = SummaryRead(FileRead(SUMMARY_FILE_NAME))
    if not path.is_file():
        return read
    read.file.present = True
    try:
        document = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError) as error:
        read.file.error = f"{type(error).__name__}: {error}"
        return read
    if not isinstance(document, dict):
        read.file.error = f"expected a JSON object, found {type(document).__name__}"
        return read
    read.data = document
    return read


def _json_lines(path: Path, read: FileRead) -> Iterator[dict[str, Any]]:
    """Yields the JSON objects of ``path``; blank lines are ignored, anything else unreadable is counted."""
    if not path.is_file():
        return
    read.present = True
    try:
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if not line.strip():
                    continue
                read.lines += 1
                try:
                    document = json.loads(line)
                except ValueError:
                    read.corrupt_lines += 1
                    continue
                if not isinstance(document, dict):
                    read.corrupt_lines += 1
                    continue
                yield document
    except OSError as error:
        read.error = f"{type(error).__name__}: {error}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None


def read_histories(run_dir: Path, origin_s: float | None = None) -> HistoryDigest:
    """Streams the history files; ``origin_s`` (absolute monotonic seconds) aligns the rate buckets to t=0."""
    digest = HistoryDigest(bucket_origin_s=origin_s or 0.0)
    for name in HISTORY_FILE_NAMES:
        read = FileRead(name)
        digest.files.append(read)
        # Both histories carry the same merged nemesis events: keep those of the first file only.
        keep_nemesis = not digest.nemesis
        open_invokes: dict[int, str] = {}  # process -> f of its invoke not yet completed
        for event in _json_lines(run_dir / name, read):
            _accept_history_event(digest, event, read, keep_nemesis, open_invokes)
        if keep_nemesis and digest.nemesis:
            digest.nemesis_source = name
        for function in open_invokes.values():
            digest.unfinished[function] += 1
    if not digest.nemesis:  # a run cut short before the merge still has the nemesis file
        read = FileRead(NEMESIS_FILE_NAME)
        for event in _json_lines(run_dir / NEMESIS_FILE_NAME, read):
            _accept_history_event(digest, event, read, True, {})
        digest.nemesis_source = NEMESIS_FILE_NAME
        if read.present:
            digest.files.append(read)
    return digest


def _accept_history_event(
    digest: HistoryDigest,
    event: dict[str, Any],
    read: FileRead,
    keep_nemesis: bool,
    open_invokes: dict[int, str],
) -> None:
    time_ns = _number(event.get("time"))
    event_type, function, process = event.get("type"), event.get("f"), event.get("process")
    if time_ns is None or not isinstance(event_type, str) or not isinstance(function, str):
        read.corrupt_lines += 1
        return
    time_s = time_ns / 1e9
    digest.earliest_s = time_s if digest.earliest_s is None else min(digest.earliest_s, time_s)
    digest.latest_s = time_s if digest.latest_s is None else max(digest.latest_s, time_s)
    if process == "nemesis":
        if keep_nemesis:
            digest.nemesis.append(NemesisEvent(time_s, function, event.get("value")))
        return
    if process in SYSTEM_PROCESSES:  # the store's and the load generator's own events: not client operations
        return
    if isinstance(process, bool) or not isinstance(process, int):
        read.corrupt_lines += 1
        return
    if event_type == "invoke":
        if process in open_invokes:  # a second invoke without completion: the first stays unknown
            digest.unfinished[open_invokes[process]] += 1
        open_invokes[process] = function
        return
    if event_type not in COMPLETION_TYPES:
        read.corrupt_lines += 1
        return
    open_invokes.pop(process, None)
    digest.counts.setdefault(function, Counter())[event_type] += 1
    bucket = math.floor((time_ns - digest.bucket_origin_s * 1e9) / NANOSECONDS_PER_BUCKET)
    if event_type == "ok":
        digest.ok_by_bucket[bucket] += 1
    else:
        digest.errors_by_bucket[bucket] += 1


def read_canaries(run_dir: Path) -> CanaryDigest:
    digest = CanaryDigest(FileRead(CANARIES_FILE_NAME))
    for record in _json_lines(run_dir / CANARIES_FILE_NAME, digest.file):
        time_s = _number(record.get("time_s"))
        fields = [record.get(name) for name in ("canary_az", "endpoint_az", "operation", "outcome")]
        if time_s is None or not all(isinstance(value, str) for value in fields):
            digest.file.corrupt_lines += 1
            continue
        canary_az, endpoint_az, operation, outcome = (str(value) for value in fields)
        latency_ms = _number(record.get("latency_ms"))
        digest.records.append(CanaryRecord(time_s, canary_az, endpoint_az, operation, outcome, latency_ms))
    return digest
