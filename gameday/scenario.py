"""Game-day scenarios: TOML files read into frozen dataclasses, rejected before anything starts when wrong.

A bare name (`smoke`) is a scenario shipped in gameday/scenarios/; anything with a `/` or ending in
`.toml` is a path. Every error names the file, the field as a dotted path and the reason, because a
scenario typo found after a five-minute cluster start wastes the whole game day.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from canaries.alarms import ALARM_KINDS, AlarmRule
from chaos.faults.kinds import CHURN_METHODS, FAULT_KINDS, LEADER_TARGETS, PROCESS_ROLES
from chaos.schedule import FaultPhase, TargetOptions
from cluster.router.partition_cache import CACHE_MODES, DEFAULT_CACHE_MODE
from gameday.admission_scenario import admission_enabled, admission_settings, check_admission
from loadgen.hot_key_workload import HotKeySettings
from loadgen.register_workload import RegisterWeights

__all__ = [
    "ClusterShape",
    "FaultPhase",
    "Scenario",
    "ScenarioError",
    "TargetOptions",
    "Thresholds",
    "Workload",
    "load_scenario",
    "parse_scenario",
    "shipped_scenarios",
]

WORKLOAD_MODELS = ("register", "set", "both", "hot-key", "bank", "list-append", "index", "transactions")
# The models that run two loads side by side, each recording its own history.
COMBINED_MODELS = {"both": ("register", "set"), "transactions": ("bank", "list-append", "index")}


class ScenarioError(Exception):
    def __init__(self, file: str, field_path: str | None, reason: str) -> None:
        self.file = file
        self.field_path = field_path
        self.reason = reason
        where = f"{file}: {field_path}: " if field_path else f"{file}: "
        super().__init__(where + reason)


@dataclass(frozen=True)
class ClusterShape:
    azs: int = 3
    nodes_per_az: int = 2
    partitions_per_table: int = 4
    # The paper's mechanisms, each with its off switch, so a scenario can show what goes wrong without it.
    log_replicas: bool = True
    scrub: bool = True
    router_cache: str = DEFAULT_CACHE_MODE  # or "classic": lookups only on a cache miss
    # Replicas copy their state every this many applied entries and compact their logs (0: never).
    snapshot_every_entries: int = 10_000
    # [cluster.admission]: AdmissionSettings fields (cluster/admission/settings.py); empty = the store's defaults.
    admission: Mapping[str, Any] = field(default_factory=dict)

    def store_settings(self) -> dict[str, Any]:
        """The switches as the deploy backends take them (topology fields)."""
        settings: dict[str, Any] = {
            "log_replicas_enabled": self.log_replicas,
            "scrub_enabled": self.scrub,
            "router_cache_mode": self.router_cache,
            "snapshot_every_entries": self.snapshot_every_entries,
        }
        if self.admission:
            settings["admission"] = admission_settings(self.admission)
        return settings

    @property
    def admission_enabled(self) -> bool:
        return admission_enabled(self.admission)


@dataclass(frozen=True)
class Workload:
    model: str  # "register" | "set" | "both" | "hot-key" | "bank" | "list-append" | "index" | "transactions" (the last three)
    keys: int
    clients: int
    rate_per_client_s: float | None  # operations per second per client; None = as fast as it answers
    read_weight: float
    write_weight: float
    cas_weight: float
    hot_key: HotKeySettings | None = None
    # Counters (UpdateItem ADD) beside the registers; 0 keeps a scenario's load as it always was.
    incr_weight: float = 0.0  # model "hot-key": the hot users (`clients` are the cold ones)
    # Models "index" and "transactions": seconds into the run at which UpdateTable adds a second index to the
    # index table (loadgen/index_admin.py), so that its backfill runs under the faults; None: never.
    add_index_at_s: float | None = None

    @property
    def register_weights(self) -> RegisterWeights:
        return RegisterWeights(self.read_weight, self.write_weight, self.cas_weight, self.incr_weight)

    @property
    def history_model(self) -> str:
        """What the history is judged as: the hot-key workload is registers on cold and hot keys."""
        return "register" if self.model == "hot-key" else self.model


@dataclass(frozen=True)
class FaultKindThreshold:
    """What one kind of fault is expected to cost, when that differs from the inside-fault floor:
    the availability floor while it is in force and for `grace_s` after its heal."""

    availability: float
    grace_s: float = 0.0


@dataclass(frozen=True)
class Thresholds:
    """Pass/fail limits judged by the canary and regression checkers; kept as data here."""

    availability_outside_faults: float  # fraction of successful canary requests, 0..1
    availability_inside_faults: float
    latency_p99_ms: float
    window_s: float  # the window availability and latency are measured over
    regression_tolerance: float  # allowed relative worsening against the baseline (0.2 = 20 %)
    # [thresholds.by_fault_kind.<kind>]: a kind whose expected cost differs from the general floor.
    by_fault_kind: Mapping[str, FaultKindThreshold] = field(default_factory=dict)
    # A customer-facing alarm fires when `alarm_breaches` of `alarm_windows` consecutive judged windows
    # breach (CloudWatch's "M out of N"); a window is judged on at least `samples_min` canary steps of
    # its kind, so that one failed probe cannot decide it.
    alarm_breaches: int = 2
    alarm_windows: int = 3
    samples_min: int = 20
    # [thresholds.by_alarm_kind.<kind>]: the same three for one kind of alarm (ALARM_KINDS).
    by_alarm_kind: Mapping[str, AlarmRule] = field(default_factory=dict)

    def alarm_rule(self, kind: str) -> AlarmRule:
        return self.by_alarm_kind.get(kind) or AlarmRule(self.alarm_breaches, self.alarm_windows, self.samples_min)


@dataclass(frozen=True)
class AbortCondition:
    """A stop condition (as in AWS FIS or Chaos Toolkit): the run stops its faults early when the
    canaries' availability over the last `thresholds.window_s` stays below the floor for `for_s`."""

    canary_availability_below: float
    for_s: float


@dataclass(frozen=True)
class ResourceSettings:
    """`[resources]`: sample every process's memory and descriptors and the storage nodes' disk use every
    `interval_s`; the `resources` verdict fails a series that grew by more than `growth_tolerance` of
    its level over the run's second half (gameday/checks/resources.py)."""

    interval_s: float = 2.0
    growth_tolerance: float = 0.1


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    cluster: ClusterShape
    workload: Workload
    warmup_s: float
    faults: FaultPhase
    recovery_s: float
    final_reads: bool
    thresholds: Thresholds
    abort: AbortCondition | None = None
    resources: ResourceSettings | None = None
    source: str = field(default="", compare=False)  # the file it was read from
    # `gameday run --duration`: the fault phase's length, overriding the file's (None: the file's own).
    duration_override_s: float | None = None

    @property
    def total_s(self) -> float:
        return self.warmup_s + self.faults.duration_s + self.recovery_s


_MISSING = object()


class _Table:
    """One TOML table being read: every read removes its key, and `finish` rejects whatever is left."""

    def __init__(self, file: str, prefix: str, data: Any) -> None:
        self.file = file
        self.prefix = prefix
        if not isinstance(data, dict):
            raise ScenarioError(file, prefix or None, f"must be a table, got {_type_name(data)}")
        self.data = dict(data)

    def path(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def fail(self, key: str, reason: str) -> ScenarioError:
        return ScenarioError(self.file, self.path(key), reason)

    def take(self, key: str, default: Any = _MISSING) -> Any:
        if key in self.data:
            return self.data.pop(key)
        if default is _MISSING:
            raise self.fail(key, "missing")
        return default

    def table(self, key: str, default: Any = _MISSING) -> _Table:
        return _Table(self.file, self.path(key), self.take(key, default))

    def string(self, key: str, default: Any = _MISSING, choices: tuple[str, ...] = ()) -> str:
        value = self.take(key, default)
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, got {_type_name(value)}")
        if choices and value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}; got {value!r}")
        return value

    def boolean(self, key: str, default: Any = _MISSING) -> bool:
        value = self.take(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {_type_name(value)}")
        return value

    def integer(self, key: str, default: Any = _MISSING, minimum: int = 0) -> int:
        value = self.take(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be an integer, got {_type_name(value)}")
        if value < minimum:
            raise self.fail(key, f"must be at least {minimum}, got {value}")
        return value

    def number(
        self,
        key: str,
        default: Any = _MISSING,
        minimum: float = 0.0,
        above_minimum: bool = False,
        maximum: float = math.inf,
    ) -> float:
        return _check_number(self, key, self.take(key, default), minimum, above_minimum, maximum)

    def finish(self) -> None:
        if self.data:
            key = sorted(self.data)[0]
            raise self.fail(key, f"unknown key (known keys are listed in gameday/scenarios/default.toml); "
                                 f"unknown here: {', '.join(sorted(self.data))}")


def _check_number(
    table: _Table, key: str, value: Any, minimum: float, above_minimum: bool, maximum: float
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise table.fail(key, f"must be a number, got {_type_name(value)}")
    if above_minimum and value <= minimum:
        raise table.fail(key, f"must be greater than {minimum:g}, got {value:g}")
    if value < minimum:
        what = "negative" if minimum == 0 else f"below {minimum:g}"
        raise table.fail(key, f"must not be {what}, got {value:g}")
    if value > maximum:
        raise table.fail(key, f"must be at most {maximum:g}, got {value:g}")
    return float(value)


def _type_name(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _string_list(table: _Table, key: str, choices: tuple[str, ...] = ()) -> tuple[str, ...]:
    value = table.take(key)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise table.fail(key, f"must be a non-empty array of strings, got {value!r}")
    wrong = [item for item in value if choices and item not in choices]
    if wrong:
        raise table.fail(key, f"{wrong[0]!r} is not one of {', '.join(choices)}")
    return tuple(value)


def _cluster(top: _Table) -> ClusterShape:
    table = top.table("cluster", {})
    shape = ClusterShape(
        azs=table.integer("azs", 3, minimum=3),  # a group places one replica in each of 3 AZs
        nodes_per_az=table.integer("nodes_per_az", 2, minimum=1),
        partitions_per_table=table.integer("partitions_per_table", 4, minimum=1),
        log_replicas=table.boolean("log_replicas", True),
        scrub=table.boolean("scrub", True),
        router_cache=table.string("router_cache", DEFAULT_CACHE_MODE, choices=CACHE_MODES),
        snapshot_every_entries=table.integer("snapshot_every_entries", 10_000),
        admission=_admission(table),
    )
    table.finish()
    return shape


def _admission(cluster: _Table) -> dict[str, Any]:
    if "admission" not in cluster.data:
        return {}
    try:
        return check_admission(cluster.take("admission"))
    except ValueError as error:  # the store's own check names the field and the allowed values
        raise cluster.fail("admission", str(error)) from None


def _workload(top: _Table) -> Workload:
    table = top.table("workload")
    rate = table.take("rate_per_client_s", None)
    model = table.string("model", choices=WORKLOAD_MODELS)
    workload = Workload(
        model=model,
        keys=table.integer("keys", minimum=1),
        clients=table.integer("clients", minimum=1),
        rate_per_client_s=None if rate is None else _check_number(table, "rate_per_client_s", rate, 0, True, math.inf),
        read_weight=table.number("read_weight", 1.0),
        write_weight=table.number("write_weight", 1.0),
        cas_weight=table.number("cas_weight", 1.0),
        incr_weight=table.number("incr_weight", 0.0),
        hot_key=_hot_key(table) if model == "hot-key" else None,  # elsewhere its keys are unknown keys
        add_index_at_s=_add_index_at_s(table, model),
    )
    if workload.read_weight + workload.write_weight + workload.cas_weight + workload.incr_weight <= 0:
        raise table.fail("read_weight", "read, write, cas and incr weights are all zero: the workload would do nothing")
    if model in ("bank", "transactions") and workload.keys < 2:
        raise table.fail("keys", "the bank workload transfers between accounts: it needs at least 2 (keys = accounts)")
    table.finish()
    return workload


def _add_index_at_s(table: _Table, model: str) -> float | None:
    at_s = table.take("add_index_at_s", None)
    if at_s is None:
        return None
    if model not in ("index", "transactions"):
        raise table.fail("add_index_at_s", f"only the index workload adds an index (model index or transactions), not {model}")
    return _check_number(table, "add_index_at_s", at_s, 0, False, math.inf)


def _hot_key(table: _Table) -> HotKeySettings:
    return HotKeySettings(
        hot_keys=table.integer("hot_keys", 4, minimum=1),
        hot_clients=table.integer("hot_clients", minimum=1),
        hot_start_s=table.number("hot_start_s", above_minimum=True),  # the cold keys' baseline comes first
        hot_duration_s=table.number("hot_duration_s", above_minimum=True),
    )


# A scenario without [faults]: a day with load only (the hot-key lesson is about load, not failures).
NO_FAULTS = FaultPhase(duration_s=0.0, interval_s=1.0, fault_duration_s=(0.0, 0.0), mix={})


def _fault_phase(top: _Table) -> FaultPhase:
    if "faults" not in top.data:
        return NO_FAULTS
    table = top.table("faults")
    duration_s = table.number("duration_s")
    interval_s = table.number("interval_s", above_minimum=True)
    shortest_s, longest_s = _duration_bounds(table, duration_s)
    mix_table = table.table("mix")
    if not mix_table.data:
        raise ScenarioError(mix_table.file, mix_table.prefix, "empty: name at least one fault kind with a weight")
    mix: dict[str, float] = {}
    for kind in sorted(mix_table.data):
        if kind not in FAULT_KINDS:
            raise mix_table.fail(kind, f"unknown fault kind; known kinds: {', '.join(FAULT_KINDS)}")
        mix[kind] = mix_table.number(kind, above_minimum=True)
    targets_table = table.table("targets", {})
    targets: dict[str, TargetOptions] = {}
    for kind in sorted(targets_table.data):
        if kind not in FAULT_KINDS:
            raise targets_table.fail(kind, f"unknown fault kind; known kinds: {', '.join(FAULT_KINDS)}")
        targets[kind] = _target_options(targets_table.table(kind), kind, duration_s)
    phase = FaultPhase(
        duration_s=duration_s,
        interval_s=interval_s,
        fault_duration_s=(shortest_s, longest_s),
        mix=mix,
        targets=targets,
        max_concurrent_faults=table.integer("max_concurrent_faults", 1, minimum=1),
        allow_majority_loss=table.boolean("allow_majority_loss", False),
    )
    _check_composed_faults(table, phase)
    table.finish()
    return phase


def _duration_bounds(table: _Table, phase_duration_s: float) -> tuple[float, float]:
    """`fault_duration_s = [minimum, maximum]` of a [faults] table or of one kind's targets table."""
    bounds = table.take("fault_duration_s")
    if (
        not isinstance(bounds, list)
        or len(bounds) != 2
        or any(isinstance(bound, bool) or not isinstance(bound, int | float) for bound in bounds)
    ):
        raise table.fail("fault_duration_s", f"must be [minimum, maximum] in seconds, got {bounds!r}")
    shortest_s = _check_number(table, "fault_duration_s", bounds[0], 0, True, math.inf)
    longest_s = _check_number(table, "fault_duration_s", bounds[1], 0, True, math.inf)
    if shortest_s > longest_s:
        raise table.fail("fault_duration_s", f"minimum {shortest_s:g} is greater than maximum {longest_s:g}")
    if longest_s > phase_duration_s:
        raise table.fail(
            "fault_duration_s",
            f"maximum {longest_s:g}s is longer than the fault phase (faults.duration_s = {phase_duration_s:g})",
        )
    return shortest_s, longest_s


def _target_options(table: _Table, kind: str, phase_duration_s: float) -> TargetOptions:
    allowed = FAULT_KINDS[kind].option_keys | {"fault_duration_s"}  # every kind may have its own length
    for key in sorted(table.data):
        if key not in allowed:
            raise table.fail(key, f"unknown key for {kind} (allowed: {', '.join(sorted(allowed))})")
    defaults = TargetOptions()
    options = TargetOptions(
        azs=_string_list(table, "azs") if "azs" in table.data else defaults.azs,
        leader_of=_string_list(table, "of", LEADER_TARGETS) if "of" in table.data else defaults.leader_of,
        roles=_string_list(table, "roles", PROCESS_ROLES) if "roles" in table.data else defaults.roles,
        processes=_string_list(table, "processes") if "processes" in table.data else defaults.processes,
        by=_string_list(table, "by", CHURN_METHODS) if "by" in table.data else defaults.by,
        parameters={
            name: table.number(name, minimum=low, maximum=high)
            for name, (low, high) in sorted(FAULT_KINDS[kind].parameters.items())
            if name in table.data
        },
        fault_duration_s=_duration_bounds(table, phase_duration_s) if "fault_duration_s" in table.data else None,
    )
    flap = [options.parameters.get(name) for name in ("flap_min_s", "flap_max_s")]
    if None not in flap and flap[0] > flap[1]:
        raise table.fail("flap_min_s", f"{flap[0]:g} is greater than flap_max_s = {flap[1]:g}")
    table.finish()
    return options


def _check_composed_faults(table: _Table, phase: FaultPhase) -> None:
    """What only the whole [faults] table can tell: options that need something elsewhere in it."""
    churn = phase.targets.get("leader-churn")
    has_network_kind = any(FAULT_KINDS[kind].family == "network" for kind in phase.mix)
    if "leader-churn" in phase.mix and churn is not None and "isolate" in churn.by and not has_network_kind:
        # Network faults need Toxiproxy links, and the cluster gets them only when the mix names a network kind.
        raise table.fail(
            "targets.leader-churn.by",
            '"isolate" cuts the leader\'s links through Toxiproxy, which a cluster has only when the mix names a'
            " network fault kind (e.g. partition-node); add one, or use by = [\"kill\"]",
        )
    if "lagging-election" in phase.mix and not phase.allow_majority_loss:
        raise table.fail(
            "mix.lagging-election",
            "takes a majority of one group down on purpose (its leader off, a follower paused): set"
            " allow_majority_loss = true to run it",
        )


def _thresholds(top: _Table) -> Thresholds:
    table = top.table("thresholds")
    thresholds = Thresholds(
        availability_outside_faults=table.number("availability_outside_faults", maximum=1.0),
        availability_inside_faults=table.number("availability_inside_faults", maximum=1.0),
        latency_p99_ms=table.number("latency_p99_ms", above_minimum=True),
        window_s=table.number("window_s", above_minimum=True),
        regression_tolerance=table.number("regression_tolerance"),
        by_fault_kind=_by_fault_kind(table.table("by_fault_kind", {})),
        **_alarm_rule_fields(table, Thresholds.alarm_breaches, Thresholds.alarm_windows, Thresholds.samples_min),
    )
    general = AlarmRule(thresholds.alarm_breaches, thresholds.alarm_windows, thresholds.samples_min)
    thresholds = replace(thresholds, by_alarm_kind=_by_alarm_kind(table.table("by_alarm_kind", {}), general))
    table.finish()
    return thresholds


def _alarm_rule_fields(table: _Table, breaches: int, windows: int, samples_min: int) -> dict[str, int]:
    fields = {
        "alarm_breaches": table.integer("alarm_breaches", breaches, minimum=1),
        "alarm_windows": table.integer("alarm_windows", windows, minimum=1),
        "samples_min": table.integer("samples_min", samples_min, minimum=1),
    }
    if fields["alarm_breaches"] > fields["alarm_windows"]:
        raise table.fail(
            "alarm_breaches",
            f"{fields['alarm_breaches']} breached windows can never be found among alarm_windows ="
            f" {fields['alarm_windows']} consecutive ones: the alarm could never fire",
        )
    return fields


def _by_alarm_kind(table: _Table, general: AlarmRule) -> dict[str, AlarmRule]:
    rules: dict[str, AlarmRule] = {}
    for kind in sorted(table.data):
        if kind not in ALARM_KINDS:
            raise table.fail(kind, f"unknown alarm kind; known kinds: {', '.join(ALARM_KINDS)}")
        entry = table.table(kind)
        # What a kind leaves out it takes from the general [thresholds] fields.
        fields = _alarm_rule_fields(entry, general.breaches_to_fire, general.evaluation_windows, general.samples_min)
        entry.finish()
        rules[kind] = AlarmRule(fields["alarm_breaches"], fields["alarm_windows"], fields["samples_min"])
    table.finish()
    return rules


def _check_alarms_can_fire(scenario: Scenario, file: str) -> None:
    """An alarm needing more breached windows than the run holds would pass any store."""
    thresholds = scenario.thresholds
    windows = math.ceil(scenario.total_s / thresholds.window_s)
    for kind in ALARM_KINDS:
        needed = thresholds.alarm_rule(kind).breaches_to_fire
        if needed > windows:
            where = f"by_alarm_kind.{kind}.alarm_breaches" if kind in thresholds.by_alarm_kind else "alarm_breaches"
            raise ScenarioError(
                file, f"thresholds.{where}",
                f"{needed} breached windows are needed but the run (warmup_s + faults.duration_s + recovery_s ="
                f" {scenario.total_s:g} s) holds only {windows} windows of window_s = {thresholds.window_s:g} s:"
                " the alarm could never fire",
            )  # fmt: skip


def _by_fault_kind(table: _Table) -> dict[str, FaultKindThreshold]:
    expected: dict[str, FaultKindThreshold] = {}
    for kind in sorted(table.data):
        if kind not in FAULT_KINDS:
            raise table.fail(kind, f"unknown fault kind; known kinds: {', '.join(FAULT_KINDS)}")
        entry = table.table(kind)
        expected[kind] = FaultKindThreshold(
            availability=entry.number("availability", maximum=1.0),
            grace_s=entry.number("grace_s", 0.0),
        )
        entry.finish()
    table.finish()
    return expected


def _abort(top: _Table) -> AbortCondition | None:
    if "abort" not in top.data:
        return None
    table = top.table("abort")
    condition = AbortCondition(
        canary_availability_below=table.number("canary_availability_below", maximum=1.0),
        for_s=table.number("for_s", above_minimum=True),
    )
    table.finish()
    return condition


def _resources(top: _Table) -> ResourceSettings | None:
    if "resources" not in top.data:
        return None
    table = top.table("resources")
    settings = ResourceSettings(
        interval_s=table.number("interval_s", ResourceSettings.interval_s, minimum=0.2),
        growth_tolerance=table.number("growth_tolerance", ResourceSettings.growth_tolerance, above_minimum=True),
    )
    table.finish()
    return settings


_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds from "90", "90s", "10m" or "1h"; ValueError naming the problem otherwise."""
    value = text.strip().lower()
    unit = value[-1:] if value[-1:] in _DURATION_UNITS else "s"
    number = value[:-1] if value[-1:] in _DURATION_UNITS else value
    try:
        seconds = float(number) * _DURATION_UNITS[unit]
    except ValueError:
        raise ValueError(f"{text!r} is not a duration: write seconds, or a number with s, m or h (90s, 10m, 1h)") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{text!r}: a duration must be positive")
    return seconds


def with_fault_duration(scenario: Scenario, seconds: float) -> Scenario:
    """The scenario with a fault phase of `seconds` (the same mix and pace, for longer or shorter)."""
    longest = scenario.faults.longest_fault_s
    if scenario.faults.mix and seconds < longest:
        raise ScenarioError(
            scenario.source or scenario.name, "faults.duration_s",
            f"--duration {seconds:g}s is shorter than one fault of this scenario (up to {longest:g} s)",
        )  # fmt: skip
    hot_key = scenario.workload.hot_key
    total_s = scenario.warmup_s + seconds + scenario.recovery_s
    if hot_key is not None and hot_key.hot_end_s >= total_s:
        raise ScenarioError(
            scenario.source or scenario.name, "workload.hot_duration_s",
            f"--duration {seconds:g}s ends the run before the hot phase ends ({hot_key.hot_end_s:g} s)",
        )  # fmt: skip
    return replace(scenario, faults=replace(scenario.faults, duration_s=seconds), duration_override_s=seconds)


def parse_scenario(data: Mapping[str, Any], file: str) -> Scenario:
    """Validates already-parsed TOML; `file` only names the source in errors."""
    top = _Table(file, "", data)
    name = top.string("name")
    if not name.strip():
        raise top.fail("name", "must not be empty")
    scenario = Scenario(
        name=name,
        description=top.string("description", ""),
        cluster=_cluster(top),
        workload=_workload(top),
        warmup_s=top.number("warmup_s"),
        faults=_fault_phase(top),
        recovery_s=top.number("recovery_s"),
        final_reads=top.boolean("final_reads", True),
        thresholds=_thresholds(top),
        abort=_abort(top),
        resources=_resources(top),
        source=file,
    )
    top.finish()
    _check_alarms_can_fire(scenario, file)
    hot_key = scenario.workload.hot_key
    if hot_key is not None and hot_key.hot_end_s >= scenario.total_s:
        raise ScenarioError(
            file, "workload.hot_duration_s",
            f"the hot phase ends at {hot_key.hot_end_s:g} s, after the run (warmup_s + faults.duration_s +"
            f" recovery_s = {scenario.total_s:g} s); the load stops with the run, so the hot phase must end first",
        )  # fmt: skip
    return scenario


def _scenario_directory() -> Path:
    return Path(str(resources.files("gameday").joinpath("scenarios")))


def shipped_scenarios() -> list[str]:
    return sorted(path.stem for path in _scenario_directory().glob("*.toml"))


def load_scenario(name_or_path: str) -> Scenario:
    if "/" in name_or_path or name_or_path.endswith(".toml"):
        path = Path(name_or_path)
    else:
        path = _scenario_directory() / f"{name_or_path}.toml"
        if not path.is_file():
            raise ScenarioError(
                name_or_path, None, f"no shipped scenario of that name; shipped: {', '.join(shipped_scenarios())}"
            )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioError(str(path), None, f"cannot read: {error.strerror or error}") from error
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # The decoder's message ends with "(at line N, column M)", which is what a user needs to find it.
        raise ScenarioError(str(path), None, f"invalid TOML: {error}") from error
    return parse_scenario(data, str(path))
