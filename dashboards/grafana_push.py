"""Upload the game-day dashboards to a running Grafana and mark a run's faults on them as annotations.

The payloads are built by pure functions (``dashboard_payload``, ``fault_annotations``,
``wall_clock_origin``); only ``connect`` and ``push`` talk to Grafana, through grafana-client.

grafana-client is an optional extra (``pip install 'gameday-harness[grafana]'``) kept out of the main
environment: it pulls urllib3-future, which replaces the ``urllib3`` module that boto3 relies on
(DESIGN §6). It is imported only when a push starts, so the rest of the harness never needs it.

Grafana wants annotation times as wall-clock epoch milliseconds, while a run records monotonic seconds.
The run's wall-clock start is taken from, best first: ``summary.json``'s ``run_start_wall_s`` (written
at the same instant as ``run_start_monotonic_s``); the canaries' records, each of which carries both
clocks (``time_s`` and ``wall_time_s``, read one after the other); ``started_at``, which has a
one-second resolution and is taken before the cluster starts, so windows drawn from it come early by
the cluster's start-up time.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_FOLDER_TITLE",
    "DEFAULT_FOLDER_UID",
    "FaultAnnotation",
    "MissingGrafanaClientError",
    "PushError",
    "PushResult",
    "RunFaults",
    "RunThresholds",
    "connect",
    "dashboard_payload",
    "fault_annotations",
    "push",
    "read_run",
    "run_faults",
    "thresholds_from_summary",
    "wall_clock_origin",
]

# The folder the file provisioning uses too (dashboards/provisioning/dashboards/dashboards.yml).
DEFAULT_FOLDER_TITLE = "Game day"
DEFAULT_FOLDER_UID = "gameday"
INSTALL_HINT = "pip install 'gameday-harness[grafana]' in a separate environment (it replaces urllib3, DESIGN §6)"
PUSH_MESSAGE = "gameday dashboards push"
# Grafana answers at most `limit` annotations per find (default 100): delete in bounded rounds.
FIND_LIMIT = 1000
MAX_DELETE_ROUNDS = 100
PROVISIONED_HINT = (
    "if that Grafana provisions these dashboards from files, as the compose file's does, "
    "they are already there: add --annotations-only"
)
MAX_LISTED_TARGETS = 3  # processes named in an annotation's text


class PushError(Exception):
    """Something the user must fix (bad run directory, token, URL); the message says what."""


class MissingGrafanaClientError(PushError):
    def __init__(self) -> None:
        super().__init__(f"grafana-client is not installed in this environment: {INSTALL_HINT}")


@dataclass(frozen=True)
class RunThresholds:
    """The alert thresholds a run was judged with (fits dashboards.alert_rules.AlertThresholds)."""

    availability_outside_faults: float
    latency_p99_ms: float
    window_s: float


@dataclass(frozen=True)
class FaultAnnotation:
    time_ms: int
    time_end_ms: int
    tags: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class RunFaults:
    run_tag: str  # on every annotation of the run: a second push replaces them instead of adding
    annotations: tuple[FaultAnnotation, ...]
    clock_source: str  # where the wall-clock start came from, said to the user
    clock_warning: str | None


@dataclass(frozen=True)
class PushResult:
    folder_uid: str | None
    dashboards: dict[str, int]  # uid -> version Grafana stored
    annotations_added: int
    annotations_replaced: int


# ---- pure: payloads --------------------------------------------------------------------------------


def dashboard_payload(model: Mapping[str, Any], folder_uid: str | None) -> dict[str, Any]:
    """The body of ``POST /api/dashboards/db`` for a generated model.

    ``overwrite``: the dashboards are generated, like the provisioned ones (which forbid UI edits), so
    the code is the source of truth and replaces whatever version Grafana holds.
    """
    dashboard = dict(model)
    dashboard["id"] = None  # Grafana finds the existing dashboard by uid
    payload: dict[str, Any] = {"dashboard": dashboard, "overwrite": True, "message": PUSH_MESSAGE}
    if folder_uid is not None:
        payload["folderUid"] = folder_uid
    return payload


def thresholds_from_summary(summary: Mapping[str, Any]) -> RunThresholds | None:
    """The run's own thresholds, so the pushed graphs draw the lines the run was judged against."""
    thresholds = summary.get("thresholds")
    if not isinstance(thresholds, Mapping):
        return None
    values = [thresholds.get(name) for name in ("availability_outside_faults", "latency_p99_ms", "window_s")]
    if not all(_is_number(value) for value in values):
        return None
    return RunThresholds(*(float(value) for value in values))


def wall_clock_origin(
    summary: Mapping[str, Any], clock_offsets_s: Sequence[float]
) -> tuple[float, str, str | None]:
    """(epoch seconds of the run start, where it came from, a warning or None); see the module doc.

    ``clock_offsets_s``: ``wall_time_s - time_s`` of canary records, on the run's monotonic clock.
    """
    wall = summary.get("run_start_wall_s")
    if _is_number(wall):
        return float(wall), "summary.json run_start_wall_s", None
    monotonic = summary.get("run_start_monotonic_s")
    if _is_number(monotonic) and clock_offsets_s:
        # The median ignores a record whose two clock reads a thread switch pulled apart.
        offset_s = statistics.median(clock_offsets_s)
        return float(monotonic) + offset_s, "canaries.jsonl (wall_time_s - time_s)", None
    started_at = summary.get("started_at")
    if isinstance(started_at, str):
        try:
            parsed = datetime.strptime(started_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            parsed = None
        if parsed is not None:
            warning = (
                "summary.json has no run_start_wall_s and canaries.jsonl no usable records: fault times are "
                "placed from started_at, which has one-second resolution and precedes the cluster's "
                "start-up, so annotations may come early by that start-up time"
            )
            return parsed.timestamp(), "summary.json started_at", warning
    raise PushError(
        "summary.json has no usable wall-clock start (run_start_wall_s, started_at) and canaries.jsonl "
        "gives none: cannot place the faults in time"
    )


def fault_annotations(summary: Mapping[str, Any], origin_wall_s: float) -> tuple[str, tuple[FaultAnnotation, ...]]:
    """(run tag, one annotation per fault window of ``summary["faults"]``), times in epoch ms."""
    faults = summary.get("faults")
    if not isinstance(faults, list):
        raise PushError("summary.json has no \"faults\" list: was the run cut short before it was judged?")
    scenario = str(summary.get("scenario", "unknown"))
    seed = summary.get("seed", "unknown")
    # Grafana tags go into URLs unescaped by grafana-client: keep them to URL-safe characters.
    run_tag = "run:" + _url_safe(f"{scenario}-{seed}-{summary.get('started_at', 'unknown')}")
    annotations = []
    for index, fault in enumerate(faults):
        if not isinstance(fault, Mapping) or not _is_number(fault.get("start_s")):
            raise PushError(f"summary.json faults[{index}] has no numeric start_s: {fault!r}")
        kind = str(fault.get("kind", "fault"))
        start_s = float(fault["start_s"])
        heal = fault.get("heal_s")
        healed = _is_number(heal)
        heal_s = float(heal) if healed else start_s
        text = f"fault {kind}{_target_text(fault.get('target'))}: {scenario} seed {seed}"
        if not healed:
            text += " (no heal recorded)"
        annotations.append(
            FaultAnnotation(
                time_ms=_epoch_ms(origin_wall_s + start_s),
                time_end_ms=_epoch_ms(origin_wall_s + heal_s),
                tags=("gameday", "fault", f"kind:{_url_safe(kind)}", f"seed:{_url_safe(str(seed))}", run_tag),
                text=text,
            )
        )
    return run_tag, tuple(annotations)


def run_faults(summary: Mapping[str, Any], clock_offsets_s: Sequence[float]) -> RunFaults:
    origin_s, source, warning = wall_clock_origin(summary, clock_offsets_s)
    run_tag, annotations = fault_annotations(summary, origin_s)
    return RunFaults(run_tag, annotations, source, warning)


def _target_text(target: Any) -> str:
    """The target's short facts (node, AZ, toxic); long lists such as a partition's 32 links are left out."""
    if not isinstance(target, Mapping):
        return ""
    parts = []
    for name, value in target.items():
        if name == "fault" or value in (None, "") or isinstance(value, Mapping | bool):
            continue
        if isinstance(value, list):
            if not 0 < len(value) <= MAX_LISTED_TARGETS or not all(isinstance(item, str | int) for item in value):
                continue
            value = "+".join(map(str, value))
        parts.append(f"{name}={value}")
    return f" ({', '.join(parts)})" if parts else ""


def _url_safe(text: str) -> str:
    return "".join(character if character.isalnum() or character in "-_.:" else "_" for character in text)


def _epoch_ms(epoch_s: float) -> int:
    return int(round(epoch_s * 1000.0))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# ---- I/O: the run directory ------------------------------------------------------------------------


def read_run(run_dir: Path) -> tuple[dict[str, Any], list[float]]:
    """(summary.json, clock offsets of canaries.jsonl); a PushError names what is missing or broken."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise PushError(f"run directory {run_dir} does not exist")
    summary_path = run_dir / "summary.json"
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PushError(f"{summary_path} is missing: not a game-day run directory, or the run never finished") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PushError(f"cannot read {summary_path}: {error}") from None
    except json.JSONDecodeError as error:
        raise PushError(f"{summary_path} is not valid JSON: {error}") from None
    if not isinstance(summary, dict):
        raise PushError(f"{summary_path} is not a JSON object")
    return summary, list(_clock_offsets(run_dir / "canaries.jsonl"))


def _clock_offsets(path: Path) -> Iterable[float]:
    try:
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line after a crash; the others still tell the offset
                if isinstance(record, dict) and _is_number(record.get("time_s")) and _is_number(
                    record.get("wall_time_s")
                ):
                    yield float(record["wall_time_s"]) - float(record["time_s"])
    except OSError:
        return


# ---- I/O: Grafana, through grafana-client ----------------------------------------------------------


def connect(url: str, token: str, timeout_s: float = 10.0) -> Any:
    """A connected ``grafana_client.GrafanaApi``; checks the URL and the token before anything is sent."""
    try:
        from grafana_client import GrafanaApi
    except ImportError:
        raise MissingGrafanaClientError() from None
    if not url.startswith(("http://", "https://")):
        raise PushError(f"--grafana {url!r}: expected an http:// or https:// URL")
    api = GrafanaApi.from_url(url, credential=token, timeout=timeout_s)
    _call(url, "reach Grafana", api.health.check)
    return api


def push(
    api: Any,
    url: str,
    models: Mapping[str, Mapping[str, Any]],
    folder_title: str | None,
    run: RunFaults | None,
    upload: bool = True,
) -> PushResult:
    """Upload ``models`` (into ``folder_title``, created when missing; None: the root) and ``run``'s
    faults as annotations on every one of them, replacing the annotations an earlier push of the same
    run left. ``upload=False``: the dashboards are already there (provisioned from files, as in the
    compose file's Grafana, which refuses API saves of them): only annotate."""
    folder_uid = _ensure_folder(api, url, folder_title) if folder_title and upload else None
    versions: dict[str, int] = {}
    for model in models.values():
        uid = str(model["uid"])
        if upload:
            answer = _call(
                url, f"upload dashboard {uid}", api.dashboard.update_dashboard, dashboard_payload(model, folder_uid),
                hints={400: PROVISIONED_HINT},
            )
            versions[uid] = int(answer.get("version", 0)) if isinstance(answer, dict) else 0
        else:
            answer = _call(
                url, f"find dashboard {uid}", api.dashboard.get_dashboard, uid,
                hints={404: "push it first, without --annotations-only"},
            )
            versions[uid] = int(answer.get("dashboard", {}).get("version", 0)) if isinstance(answer, dict) else 0
    added = replaced = 0
    if run is not None:
        for uid in versions:
            replaced += _delete_run_annotations(api, url, uid, run.run_tag)
            for annotation in run.annotations:
                _call(
                    url,
                    f"add an annotation to dashboard {uid}",
                    api.annotations.add_annotation,
                    dashboard_uid=uid,
                    time_from=annotation.time_ms,
                    time_to=annotation.time_end_ms,
                    tags=list(annotation.tags),
                    text=annotation.text,
                )
                added += 1
    return PushResult(folder_uid, versions, added, replaced)


def _ensure_folder(api: Any, url: str, title: str) -> str:
    folders = _call(url, "list folders", api.folder.get_all_folders)
    for folder in folders if isinstance(folders, list) else []:
        if isinstance(folder, dict) and folder.get("title") == title:
            return str(folder["uid"])
    uid = DEFAULT_FOLDER_UID if title == DEFAULT_FOLDER_TITLE else None  # else Grafana picks one
    created = _call(url, f"create folder {title!r}", api.folder.create_folder, title, uid=uid)
    return str(created["uid"])


def _delete_run_annotations(api: Any, url: str, dashboard_uid: str, run_tag: str) -> int:
    deleted = 0
    for _ in range(MAX_DELETE_ROUNDS):
        found = _call(
            url,
            f"find annotations of dashboard {dashboard_uid}",
            api.annotations.find_annotations,
            dashboard_uid=dashboard_uid,
            tags=[run_tag],
            limit=FIND_LIMIT,
        )
        # Filter here as well: a server that ignored a filter must not cost other annotations.
        mine = [
            item for item in found or []
            if isinstance(item, dict) and run_tag in (item.get("tags") or [])
            and item.get("dashboardUID") in (None, dashboard_uid)
        ]
        if not mine:
            return deleted
        for item in mine:
            _call(url, f"delete annotation {item['id']}", api.annotations.delete_annotations_by_id, item["id"])
            deleted += 1
    raise PushError(f"{url}: annotations of dashboard {dashboard_uid} tagged {run_tag} keep coming back")


def _call(url: str, doing: str, function: Any, *args: Any, hints: Mapping[int, str] | None = None, **kwargs: Any) -> Any:
    """Run one grafana-client call, turning its errors into a PushError a user can act on; ``hints``:
    what to do about a given HTTP status."""
    from grafana_client.client import GrafanaException, GrafanaTimeoutError, GrafanaUnauthorizedError

    try:
        return function(*args, **kwargs)
    except GrafanaUnauthorizedError:
        raise PushError(f"{url} refused the token (401) when trying to {doing}: check --token") from None
    except GrafanaTimeoutError as error:
        raise PushError(f"{url} did not answer in time when trying to {doing}: {error}") from None
    except GrafanaException as error:
        status = f" {error.status_code}" if error.status_code else ""
        hint = (hints or {}).get(error.status_code)
        raise PushError(
            f"{url} answered{status} when trying to {doing}: {error.message}" + (f" ({hint})" if hint else "")
        ) from None
    except (OSError, ValueError) as error:
        # niquests' ConnectionError is an OSError; a non-JSON answer is a ValueError (JSONDecodeError).
        raise PushError(f"cannot {doing} at {url}: {_first_line(error)}") from None


def _first_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:300]
