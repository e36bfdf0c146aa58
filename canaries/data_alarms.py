"""Data alarms from canary records: every wrong answer of a consistent read, with its evidence.

Availability alarms (``canaries.alarms``) judge how often customers got an answer; this judges whether
the answers were right. A consistent read (``consistent_read`` through the endpoint that took the write,
or ``cross_read`` through another endpoint, canaries/cross_read.py) that answered after an acknowledged
write with an older sequence, no item or a sequence nobody wrote is recorded as ``mismatch``: the store
lost or hid an acknowledged write, or served a read from a deposed leader. One is enough to fail a run;
errors and timeouts are never data alarms (they are the availability alarms' business).

Pure: records in, a report out; no clock, no I/O, nothing heavy imported (the verifiers import this).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

CONSISTENT_READS = frozenset({"consistent_read", "cross_read"})
CROSS_READ = "cross_read"
MISMATCH = "mismatch"
EVIDENCE_MAX = 20  # violations kept in the report's data (all are counted)
DESCRIBED_MAX = 3  # violations spelt out in the one-line detail


@dataclass(frozen=True)
class DataViolation:
    """One consistent read that answered wrong: who read what, through which endpoint, when."""

    canary_az: str
    operation: str
    endpoint_az: str  # the endpoint the read went through
    endpoint: str | None
    written_endpoint_az: str  # the endpoint that acknowledged the write (the same one for consistent_read)
    key: str | None
    sequence: int | None  # what was written and acknowledged
    read_sequence: int | None  # what the read answered (None: absent, or a malformed item)
    time_s: float  # monotonic, when the read started
    wall_time_s: float | None

    def describe(self) -> str:
        answered = "no item" if self.read_sequence is None else f"sequence {self.read_sequence}"
        written = f"sequence {self.sequence}" if self.sequence is not None else "a write"
        return (
            f"canary {self.canary_az}: {written} of {self.key or '?'} acknowledged through {self.written_endpoint_az}, "
            f"then a {self.operation} through {self.endpoint_az} answered {answered} (t={self.time_s:.3f} s)"
        )


@dataclass(frozen=True)
class DataAlarmReport:
    violations: list[DataViolation]
    consistent_reads: Counter[str]  # outcome -> count, consistent reads through the writing endpoint
    cross_reads: Counter[str]  # outcome -> count
    cross_reads_by_route: dict[str, Counter[str]]  # "written AZ -> read AZ" -> outcome -> count

    @property
    def cross_reads_ok(self) -> int:
        return self.cross_reads["ok"]

    def validity(self) -> bool | str:
        """False on any violation; "unknown" when no cross read ever succeeded (the check could not
        see a deposed leader); True otherwise."""
        if self.violations:
            return False
        if self.cross_reads_ok == 0:
            return "unknown"
        return True

    def describe(self) -> str:
        cross = f"{self.cross_reads_ok} of {sum(self.cross_reads.values())} cross-endpoint reads ok"
        own = f"{self.consistent_reads['ok']} of {sum(self.consistent_reads.values())} same-endpoint consistent reads ok"
        if self.violations:
            examples = "; ".join(violation.describe() for violation in self.violations[:DESCRIBED_MAX])
            return f"{len(self.violations)} consistent read(s) missed an acknowledged write ({cross}; {own}): {examples}"
        if self.cross_reads_ok == 0:
            return f"no cross-endpoint read succeeded, so a stale read through another router could not show ({own})"
        return f"every consistent read saw the acknowledged write: {cross}; {own}"

    def to_json(self) -> dict[str, Any]:
        return {
            "violation_count": len(self.violations),
            "violations": [asdict(violation) for violation in self.violations[:EVIDENCE_MAX]],
            "consistent_reads": dict(self.consistent_reads),
            "cross_reads": dict(self.cross_reads),
            "cross_reads_by_route": {route: dict(counts) for route, counts in sorted(self.cross_reads_by_route.items())},
        }


def _optional_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _violation(record: Mapping[str, Any]) -> DataViolation:
    endpoint_az = str(record["endpoint_az"])
    return DataViolation(
        canary_az=str(record["canary_az"]),
        operation=str(record["operation"]),
        endpoint_az=endpoint_az,
        endpoint=record.get("endpoint"),
        written_endpoint_az=str(record.get("written_endpoint_az", endpoint_az)),
        key=record.get("key"),
        sequence=_optional_int(record.get("sequence")),
        read_sequence=_optional_int(record.get("read_sequence")),
        time_s=float(record["time_s"]),
        wall_time_s=record.get("wall_time_s"),
    )


def evaluate_data_alarms(records: Iterable[Mapping[str, Any]]) -> DataAlarmReport:
    """Every ``mismatch`` of a consistent read is a violation, in time order; other records are counted or ignored."""
    violations: list[DataViolation] = []
    consistent_reads: Counter[str] = Counter()
    cross_reads: Counter[str] = Counter()
    by_route: dict[str, Counter[str]] = {}
    for record in records:
        operation = record.get("operation")
        if operation not in CONSISTENT_READS:
            continue
        outcome = str(record["outcome"])
        if operation == CROSS_READ:
            cross_reads[outcome] += 1
            route = f"{record.get('written_endpoint_az', '?')} -> {record['endpoint_az']}"
            by_route.setdefault(route, Counter())[outcome] += 1
        else:
            consistent_reads[outcome] += 1
        if outcome == MISMATCH:
            violations.append(_violation(record))
    violations.sort(key=lambda violation: violation.time_s)
    return DataAlarmReport(violations, consistent_reads, cross_reads, by_route)
