"""The store-errors verifier: nothing the store did may go unexplained (issue 13, item 4).

Judged from the outside (DESIGN §5b): each store process's own log file as the backend kept it, and the
nemesis events that say which process a fault killed, stopped or started, and when. A store that
closes a crashed group and reopens it, or a process that dies and is started again by the final
heal-all sweep, looks healthy at the end of the run; its logs and exits do not.

What fails the run (each finding names the process, the group when there is one, and the log lines):

- a group closed by an error (`group-error ...`, written by cluster/replication/replica_host.py), or a
  host loop that died (`host-loop-error ...`);
- any Python traceback in a store log, any ERROR or CRITICAL record, and any warning that quotes a
  programming error (KeyError, TypeError, AttributeError...): those are bugs, not weather;
- an incarnation of a process that ended while no fault killed or stopped it (it crashed, or vanished),
  and a start that no fault (nor the final sweep after a fault whose heal failed) explains.

What is explained and passes: WARNING and INFO records that quote no programming error (connection
refused to a powered-off peer, a timeout during a partition, a torn WAL tail after a power-off, a
client's bad request); a SIGKILL by power-off, kill-leader, az-power-off, cluster-power-off or bit-rot;
a SIGTERM stop by clock-skew or by `down` at the end (`process-stop` line); what a process logs while
it shuts down after such a stop (asyncio's "Task was destroyed but it is pending!").

`judge` is pure (log lines and nemesis events in, a VerifierResult out); `store_errors_result` reads
them where `find_store_logs` found them once the cluster is down (the Docker backend writes its logs at
`down`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gameday.checks.base import Check, CheckOutcome
from gameday.run_record import RunRecord
from gameday.run_verdict import VerifierResult

NAME = "store-errors"
EVIDENCE_LINES_MAX = 12  # per finding: the record, then the first lines of its traceback
FINDINGS_DETAILED_MAX = 40  # beyond this, findings are only counted

# How faults say what they did to processes (chaos/faults/*): a `start-<kind>` event's "pids" are the
# processes it ended (SIGKILL), a `stop-<kind>` event's "pids" those it started; "stopped_pids" next to
# "pids" is a restart (clock-skew). A fault that kills several times while it lasts says each with an
# `<x>-kill` / `<x>-power-on` event's "pids" (leader-churn), or any event's "killed_pids" /
# "started_pids". Kinds whose "pids" freeze a process rather than end it:
PAUSING_FAULT_KINDS = frozenset({"pause"})

_RECORD = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<process>\S+) (?P<level>[A-Z]+) (?P<logger>[^:\s]+): (?P<message>.*)$"
)
_TRACEBACK_START = "Traceback (most recent call last):"
_PROCESS_START = re.compile(r"process-start id=\S+ role=\S+ pid=(?P<pid>\d+)")
_LEGACY_START = re.compile(r"^\S+ \(\w+\) serving$")  # logs written before process-start existed
_PROCESS_STOP = re.compile(r"process-stop id=\S+ pid=\d+ signal=\S+")
_GROUP_ERROR = re.compile(r"^group-error group=(?P<group>\S+)")
_HOST_LOOP_ERROR = re.compile(r"^host-loop-error ")
# Exceptions that are programming errors wherever they appear: never the network's or a fault's doing.
_PROGRAMMING_ERROR = re.compile(
    r"\b(AttributeError|KeyError|TypeError|IndexError|NameError|UnboundLocalError|AssertionError|"
    r"ZeroDivisionError|RecursionError|NotImplementedError)\b"
)
# Output of a dying interpreter that is not a log record.
_FATAL_OUTPUT = re.compile(r"Fatal Python error|Segmentation fault|core dumped|MemoryError|^error: ", re.IGNORECASE)
# What asyncio says while a process shuts down after a stop it was asked for (its pending tasks go):
# Python 3.11's stream server calls task.exception() on the connection tasks the stop cancelled.
_SHUTDOWN_NOISE = re.compile(r"Task was destroyed but it is pending!")
_SHUTDOWN_CANCELLED = re.compile(r"(asyncio\.exceptions\.)?CancelledError$")


@dataclass(frozen=True)
class KnownIssue:
    """An error line seen in healthy game days that is not a store crash: the machine's doing (a port taken
    by another program), or a known defect that a fault kind which ran before it explains. Reported
    (summary.json, the detail line) but not failing; a defect's entry goes once the store is fixed."""

    name: str
    pattern: re.Pattern[str]
    after_fault_kinds: frozenset[str]  # empty: whatever faults ran
    reason: str


KNOWN_ISSUES: tuple[KnownIssue, ...] = (
    KnownIssue(
        "metrics-port-taken",
        re.compile(r"cannot serve /metrics on \S+: .*address already in use"),
        frozenset(),
        "the /metrics port chosen at cluster up was taken by another program before the process bound it (a "
        "port race on a shared machine); the process serves on without metrics, as designed",
    ),
)


@dataclass(frozen=True)
class Finding:
    kind: str  # group-closed | host-loop-died | traceback | error-record | suspicious-warning | fatal-output
    #            | unexplained-exit | unexplained-start
    process: str
    summary: str
    group: str | None = None
    lines: tuple[str, ...] = ()


@dataclass
class Incarnation:
    """One run of a process, from its start line to the next one (or the end of its log)."""

    pid: int | None
    lines: list[str] = field(default_factory=list)

    @property
    def asked_to_stop(self) -> bool:
        return any(_PROCESS_STOP.search(line) for line in self.lines)


@dataclass(frozen=True)
class Lifecycle:
    """What faults did to one process's incarnations, from the nemesis events (the outside view)."""

    ended_pids: frozenset[int]  # killed (SIGKILL) or stopped (SIGTERM) by a fault
    started_pids: frozenset[int]  # started by a fault's start or heal, or by the sweep after a failed heal
    ended_count: int
    started_count: int
    swept_unexplained: tuple[str, ...]  # the final heal-all sweep started it although no fault held it down


# ---- the nemesis side -------------------------------------------------------------------------


def lifecycles(nemesis_events: Iterable[Mapping[str, Any]]) -> dict[str, Lifecycle]:
    """Per process: which pids faults ended and started. Events are read in file order."""
    ended: dict[str, set[int]] = {}
    started: dict[str, set[int]] = {}
    ended_count: dict[str, int] = {}
    started_count: dict[str, int] = {}
    swept: dict[str, list[str]] = {}
    held_down: set[str] = set()  # a fault ended it and nothing has started it since
    for event in nemesis_events:
        function = str(event.get("f", ""))
        value = event.get("value")
        if not isinstance(value, dict):
            continue
        if function == "heal-all":
            for process_id, pid in (value.get("powered_on") or {}).items():
                if process_id in held_down:  # a fault's heal failed; the sweep is its heal
                    started.setdefault(process_id, set()).add(int(pid))
                    started_count[process_id] = started_count.get(process_id, 0) + 1
                    held_down.discard(process_id)
                else:
                    swept.setdefault(process_id, []).append(f"heal-all powered on {process_id} (pid {pid})")
            continue
        phase, _, kind = function.partition("-")
        pids = value.get("pids") if isinstance(value.get("pids"), dict) else {}
        if "killed_pids" in value or "started_pids" in value:  # any event, e.g. one kill of a churning fault
            ends, starts = _pid_map(value.get("killed_pids")), _pid_map(value.get("started_pids"))
        elif function.endswith("-kill"):  # one kill while a fault lasts (leader-churn's churn-kill)
            ends, starts = pids, {}
        elif function.endswith("-power-on"):  # and its power-on (churn-power-on)
            ends, starts = {}, pids
        elif phase not in ("start", "stop") or kind in PAUSING_FAULT_KINDS:
            continue
        elif "stopped_pids" in value:  # a restart in one step (clock-skew): old pid stopped, new one started
            ends, starts = _pid_map(value.get("stopped_pids")), pids
        elif phase == "start":
            ends, starts = pids, {}
        else:
            ends, starts = {}, pids
        for process_id, pid in ends.items():
            ended.setdefault(process_id, set()).add(int(pid))
            ended_count[process_id] = ended_count.get(process_id, 0) + 1
            held_down.add(process_id)
        for process_id, pid in starts.items():
            started.setdefault(process_id, set()).add(int(pid))
            started_count[process_id] = started_count.get(process_id, 0) + 1
            held_down.discard(process_id)
    names = set(ended) | set(started) | set(swept)
    return {
        name: Lifecycle(
            frozenset(ended.get(name, ())), frozenset(started.get(name, ())),
            ended_count.get(name, 0), started_count.get(name, 0), tuple(swept.get(name, ())),
        )
        for name in names
    }


def _pid_map(value: Any) -> dict[str, int]:
    return {str(process): int(pid) for process, pid in value.items()} if isinstance(value, dict) else {}


# ---- the log side -----------------------------------------------------------------------------


def incarnations(lines: Sequence[str]) -> list[Incarnation]:
    """Splits one process's appended log at each start line (the first holds anything before)."""
    use_legacy = not any(_PROCESS_START.search(line) for line in lines)
    result: list[Incarnation] = []
    for line in lines:
        record = _RECORD.match(line)
        message = record["message"] if record else ""
        start = _PROCESS_START.search(message) if record else None
        if start or (use_legacy and record and _LEGACY_START.match(message)):
            if not result or result[-1].lines:
                result.append(Incarnation(int(start["pid"]) if start else None))
            else:
                result[-1].pid = int(start["pid"]) if start else None
        if not result:
            result.append(Incarnation(None))
        result[-1].lines.append(line)
    return result


def _blocks(lines: Sequence[str]) -> list[tuple[str | None, list[str]]]:
    """(record line or None, the lines that follow it until the next record): a record with its traceback."""
    blocks: list[tuple[str | None, list[str]]] = []
    for line in lines:
        if _RECORD.match(line):
            blocks.append((line, []))
        elif blocks:
            blocks[-1][1].append(line)
        else:
            blocks.append((None, [line]))
    return blocks


def _evidence(record: str | None, following: Sequence[str]) -> tuple[str, ...]:
    lines = ([record] if record else []) + list(following)
    return tuple(line[:400] for line in lines[:EVIDENCE_LINES_MAX])


def _last_exception_line(following: Sequence[str]) -> str:
    for line in reversed(following):
        if line.strip() and not line.startswith(" "):
            return line.strip()
    return ""


def log_findings(process: str, incarnation: Incarnation) -> list[Finding]:
    """Every record or output of one incarnation that says the store hit something unexplained."""
    findings: list[Finding] = []
    shutting_down = False
    for record, following in _blocks(incarnation.lines):
        match = _RECORD.match(record) if record else None
        message = match["message"] if match else ""
        level = match["level"] if match else ""
        if match and _PROCESS_STOP.search(message):
            shutting_down = True
        traceback_index = next((i for i, line in enumerate(following) if line.startswith(_TRACEBACK_START)), None)
        if traceback_index is not None and traceback_index > 0:
            # Output before the traceback that is not a record (rare): judged as output of its own.
            findings += _output_findings(process, following[:traceback_index])
            following = following[traceback_index:]
        elif traceback_index is None:
            findings += _output_findings(process, following)
            following = []
        evidence = _evidence(record, following)
        exception = _last_exception_line(following)
        group_error = _GROUP_ERROR.match(message)
        if group_error:
            summary = message[:300] + _reopened(incarnation.lines, record, group_error["group"])
            findings.append(Finding("group-closed", process, summary, group_error["group"], evidence))
        elif _HOST_LOOP_ERROR.match(message):
            findings.append(Finding("host-loop-died", process, message[:300], None, evidence))
        elif shutting_down and (
            _SHUTDOWN_NOISE.search(message)
            or (match and match["logger"] == "asyncio" and _SHUTDOWN_CANCELLED.search(exception))
        ):
            continue
        elif following and level in ("WARNING", "ERROR", "CRITICAL"):  # logged with its traceback
            what = f"{message[:200]} -> {exception}"
            findings.append(Finding("traceback", process, what, _group_named(message), evidence))
        elif following:  # printed by the interpreter after the last record: an uncaught exception
            evidence = tuple(line[:400] for line in following[:EVIDENCE_LINES_MAX])
            findings.append(Finding("traceback", process, f"uncaught exception: {exception}", None, evidence))
        elif level in ("ERROR", "CRITICAL"):
            findings.append(Finding("error-record", process, message[:300], _group_named(message), evidence))
        elif level == "WARNING" and _PROGRAMMING_ERROR.search(message):
            findings.append(Finding("suspicious-warning", process, message[:300], _group_named(message), evidence))
    return findings


def _reopened(lines: Sequence[str], closed_record: str | None, group: str) -> str:
    """The store hides the crash by opening the group again (at the next metadata report): say when."""
    after = lines[lines.index(closed_record) + 1:] if closed_record in lines else []
    for line in after:
        if f"opening replica of {group} " in line:
            return f" (reopened at {line[11:23]})"
    return ""


def _output_findings(process: str, lines: Sequence[str]) -> list[Finding]:
    return [
        Finding("fatal-output", process, line.strip()[:300], None, (line[:400],))
        for line in lines
        if _FATAL_OUTPUT.search(line)
    ]


_GROUP_IN_MESSAGE = re.compile(r"\b(?:group|of) (?P<group>[0-9a-f]{6,}-p\d+)\b")


def _group_named(message: str) -> str | None:
    found = _GROUP_IN_MESSAGE.search(message)
    return found["group"] if found else None


# ---- exits and starts -------------------------------------------------------------------------


def exit_findings(process: str, runs: Sequence[Incarnation], lifecycle: Lifecycle | None) -> list[Finding]:
    """Each incarnation but the last ended: a fault must have ended it. Each but the first started: a
    fault must have started it. The last one must still have been running when the cluster was stopped.

    Pids link an incarnation to the nemesis events when the log and the harness see the same pids (the
    local backend); otherwise (a container's own pid namespace) the counts must add up."""
    life = lifecycle or Lifecycle(frozenset(), frozenset(), 0, 0, ())
    findings: list[Finding] = []
    log_pids = {run.pid for run in runs if run.pid is not None}
    linked = bool(log_pids & (life.ended_pids | life.started_pids))
    unexplained_ends = []
    for number, run in enumerate(runs[:-1], start=1):
        if linked and run.pid in life.ended_pids:
            continue
        unexplained_ends.append((number, run))
    if not linked:
        unexplained_ends = unexplained_ends[life.ended_count:]
    for number, run in unexplained_ends:
        if run.asked_to_stop and not linked:
            continue  # a stop someone asked for; without pids it cannot be told from a fault's restart
        how = "was asked to stop by no fault" if run.asked_to_stop else (
            "crashed (its log ends in a traceback)" if _ends_in_traceback(run) else "vanished (no stop line, no fault)"
        )
        findings.append(Finding(
            "unexplained-exit", process, f"incarnation {number} (pid {run.pid}) {how}", None, tuple(run.lines[-8:])
        ))
    starts = runs[1:]
    unexplained_starts = [run for run in starts if not (linked and run.pid in life.started_pids)]
    if not linked:
        unexplained_starts = unexplained_starts[life.started_count:]
    for run in unexplained_starts:
        findings.append(Finding(
            "unexplained-start", process, f"started again (pid {run.pid}) with no fault to explain it", None,
            tuple(run.lines[:2]),
        ))
    for sweep in () if linked or unexplained_starts else life.swept_unexplained:  # else said above
        findings.append(Finding("unexplained-start", process, f"{sweep}: no fault held it down", None, ()))
    if runs and not runs[-1].asked_to_stop:
        last = runs[-1]
        how = "crashed" if _ends_in_traceback(last) else "was gone"
        findings.append(Finding(
            "unexplained-exit", process,
            f"last incarnation (pid {last.pid}) {how} before the cluster was stopped", None, tuple(last.lines[-8:]),
        ))
    return findings


def _ends_in_traceback(run: Incarnation) -> bool:
    blocks = _blocks(run.lines)
    return bool(blocks) and any(line.startswith(_TRACEBACK_START) for line in blocks[-1][1])


# ---- the verdict ------------------------------------------------------------------------------


def judge(
    log_lines_by_process: Mapping[str, Sequence[str] | None],
    nemesis_events: Sequence[Mapping[str, Any]],
    known_issues: Sequence[KnownIssue] = KNOWN_ISSUES,
) -> VerifierResult:
    """`log_lines_by_process`: every store process's whole log (None: the backend kept none)."""
    missing = sorted(process for process, lines in log_lines_by_process.items() if lines is None)
    lives = lifecycles(nemesis_events)
    findings: list[Finding] = []
    incarnation_counts: dict[str, int] = {}
    for process, lines in sorted(log_lines_by_process.items()):
        if lines is None:
            continue
        runs = incarnations(lines)
        incarnation_counts[process] = len(runs)
        for run in runs:
            findings += log_findings(process, run)
        findings += exit_findings(process, runs, lives.get(process))
    findings, known = _set_apart_known_issues(findings, _fault_kinds(nemesis_events), known_issues)
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.kind] = counts.get(finding.kind, 0) + 1
    data: dict[str, Any] = {
        "counts": counts,
        "incarnations": incarnation_counts,
        "findings": [asdict(finding) for finding in findings[:FINDINGS_DETAILED_MAX]],
        "findings_total": len(findings),
        "known_issues": known,
    }
    known_note = "".join(f"; known issue {name}: {entry['count']} line(s)" for name, entry in known.items())
    if findings:
        return VerifierResult(NAME, False, _describe(findings) + known_note, data)
    if missing:
        return VerifierResult(NAME, "unknown", f"no log kept for {', '.join(missing)}: cannot judge them", data)
    restarts = sum(incarnation_counts.values()) - len(incarnation_counts)
    return VerifierResult(
        NAME, True,
        f"{len(incarnation_counts)} store logs clean; {restarts} restart(s), each explained by a fault"
        + known_note,
        data,
    )


def _fault_kinds(nemesis_events: Iterable[Mapping[str, Any]]) -> set[str]:
    return {str(event.get("f", ""))[len("start-"):] for event in nemesis_events if str(event.get("f", "")).startswith("start-")}


def _set_apart_known_issues(
    findings: Sequence[Finding], fault_kinds_run: set[str], known_issues: Sequence[KnownIssue]
) -> tuple[list[Finding], dict[str, dict[str, Any]]]:
    remaining: list[Finding] = []
    known: dict[str, dict[str, Any]] = {}
    for finding in findings:
        issue = next(
            (
                issue for issue in known_issues
                if (not issue.after_fault_kinds or issue.after_fault_kinds & fault_kinds_run) and issue.pattern.search("\n".join(finding.lines[:1]))
            ),
            None,
        )
        if issue is None:
            remaining.append(finding)
            continue
        entry = known.setdefault(issue.name, {"reason": issue.reason, "count": 0, "examples": []})
        entry["count"] += 1
        if len(entry["examples"]) < 3:  # a few: enough to find it again
            entry["examples"].append({"process": finding.process, "group": finding.group, "lines": finding.lines[:1]})
    return remaining, known


def _describe(findings: Sequence[Finding]) -> str:
    kinds: dict[str, int] = {}
    for finding in findings:
        kinds[finding.kind] = kinds.get(finding.kind, 0) + 1
    head = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items(), key=lambda item: -item[1]))
    first = findings[0]
    lines = [f"{len(findings)} unexplained: {head}; first: {first.process}"
             + (f" group {first.group}" if first.group else "") + f": {first.summary}"]
    for finding in findings[:3]:
        lines.append(f"- {finding.kind} {finding.process}" + (f" group={finding.group}" if finding.group else ""))
        lines += [f"    {line}" for line in finding.lines[:EVIDENCE_LINES_MAX]]
    return "\n".join(lines)


# ---- I/O: read what the run left --------------------------------------------------------------


def read_nemesis(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def read_store_logs(logs_dir: Path, process_ids: Iterable[str]) -> dict[str, list[str] | None]:
    """Each process's log as the backend kept it (`<cluster dir>/logs/<id>.log` for both backends)."""
    logs: dict[str, list[str] | None] = {}
    for process_id in process_ids:
        path = logs_dir / f"{process_id}.log"
        logs[process_id] = path.read_text(errors="replace").splitlines() if path.exists() else None
    return logs


@dataclass(frozen=True)
class StoreLogs:
    """Where the backend kept each store process's log: `<cluster dir>/logs/<id>.log` for both backends."""

    logs_dir: Path
    process_ids: tuple[str, ...] = ()
    topology_error: str = ""  # no topology: the cluster never came up


def find_store_logs(cluster: Any, run_dir: Path) -> StoreLogs:
    """After `cluster.down()`: the local backend's logs stay where the processes wrote them, and the
    Docker backend copies each container's log there at `down` (a container that clock-skew recreated
    loses its earlier log: fewer incarnations, never a false finding)."""
    logs_dir = Path(getattr(cluster, "data_dir", None) or getattr(cluster, "state_dir", run_dir / "cluster")) / "logs"
    try:
        process_ids = tuple(spec.process_id for spec in cluster.topology().processes)
    except Exception as error:  # no topology: the cluster never came up, nothing to judge
        return StoreLogs(logs_dir, topology_error=str(error))
    return StoreLogs(logs_dir, process_ids)


def store_errors_result(store_logs: StoreLogs, nemesis_path: Path) -> VerifierResult:
    if store_logs.topology_error:
        return VerifierResult(NAME, "unknown", f"cannot read the cluster's topology: {store_logs.topology_error}")
    return judge(read_store_logs(store_logs.logs_dir, store_logs.process_ids), read_nemesis(nemesis_path))


class StoreErrorsCheck(Check):
    name = NAME
    needs_complete_run = True

    def after_cluster_down(self, cluster: Any, record: RunRecord) -> Any:
        # After `down`: every process's log is complete (with its stop line) and kept (Docker copies it then).
        return find_store_logs(cluster, record.run_dir)

    def judge(self, record: RunRecord) -> CheckOutcome | None:
        store_logs = record.observations.get(self.name)
        if store_logs is None:  # never unjudged silently: a whole run must show its logs were read
            return CheckOutcome(VerifierResult(NAME, "unknown", "the stopped cluster's logs were never located"))
        return CheckOutcome(store_errors_result(store_logs, record.nemesis_path))
