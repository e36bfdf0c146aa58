"""`gameday dashboards push` in the main environment: the payloads it builds, its errors, and the Grafana
API stand-in's rules, spoken to with the standard library. The same push through the real grafana-client,
in its own environment, is in test_grafana_push_client.py."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboards.grafana import dashboard_models, write_dashboards
from dashboards.grafana_push import (
    PushError,
    RunThresholds,
    dashboard_payload,
    fault_annotations,
    read_run,
    run_faults,
    thresholds_from_summary,
    wall_clock_origin,
)
from dashboards.grafana_standin import GrafanaStandIn
from gameday.cli import main as gameday_main

TOKEN = "test-token"
RUN_START_MONOTONIC_S = 5000.25
WALL_MINUS_MONOTONIC_S = 1_790_000_000.5  # what the canary records' two clocks differ by
THRESHOLDS = {
    "availability_outside_faults": 0.97,
    "availability_inside_faults": 0.5,
    "latency_p99_ms": 800.0,
    "window_s": 20.0,
    "regression_tolerance": 0.2,
}


def summary(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "scenario": "smoke",
        "seed": 4242,
        "started_at": "2026-11-27T21:00:00Z",
        "run_start_monotonic_s": RUN_START_MONOTONIC_S,
        "thresholds": THRESHOLDS,
        "faults": [
            {"kind": "power-off", "start_s": 10.125, "heal_s": 20.5, "target": {"fault": 0, "node": "az-a-1"}},
            {"kind": "partition-az", "start_s": 30.0, "heal_s": 41.0,
             "target": {"fault": 1, "process_ids": ["node-b1", "node-b2"], "az": "az-b",
                        "links": [f"link-{number}" for number in range(32)], "pids": {"node-b1": 7}}},
        ],
    }
    base.update(overrides)
    return base


def write_run(run_dir: Path, run_summary: dict[str, Any], canary_lines: list[str] | None = None) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "summary.json").write_text(json.dumps(run_summary))
    if canary_lines is None:
        canary_lines = [
            json.dumps({"time_s": RUN_START_MONOTONIC_S + step, "wall_time_s": RUN_START_MONOTONIC_S + step
                        + WALL_MINUS_MONOTONIC_S + (0.002 if step == 3 else 0.0), "canary_az": "az-a"})
            for step in range(5)
        ]
    (run_dir / "canaries.jsonl").write_text("\n".join(canary_lines) + "\n")
    return run_dir


# ---- where the wall clock comes from ---------------------------------------------------------------


def test_the_summarys_wall_clock_start_wins() -> None:
    origin_s, source, warning = wall_clock_origin(summary(run_start_wall_s=1_800_000_000.125), [1.0, 2.0])
    assert (origin_s, warning) == (1_800_000_000.125, None)
    assert "run_start_wall_s" in source


def test_canary_records_give_the_offset_between_the_clocks(tmp_path: Path) -> None:
    run_summary, offsets = read_run(write_run(tmp_path, summary()))
    origin_s, source, warning = wall_clock_origin(run_summary, offsets)
    # The median ignores the one record whose clock reads were 2 ms apart.
    assert origin_s == pytest.approx(RUN_START_MONOTONIC_S + WALL_MINUS_MONOTONIC_S, abs=1e-6)
    assert "canaries.jsonl" in source and warning is None


def test_started_at_is_the_last_resort_and_says_so() -> None:
    origin_s, source, warning = wall_clock_origin(summary(), [])
    assert origin_s == 1_795_813_200.0  # 2026-11-27T21:00:00Z
    assert source == "summary.json started_at"
    assert warning is not None and "one-second" in warning


def test_no_clock_at_all_is_a_push_error() -> None:
    with pytest.raises(PushError, match="wall-clock start"):
        wall_clock_origin(summary(started_at="yesterday"), [])


# ---- annotations and dashboards --------------------------------------------------------------------


def test_each_fault_window_becomes_an_annotation_in_epoch_milliseconds() -> None:
    origin_s = 1_790_000_000.5
    run_tag, annotations = fault_annotations(summary(), origin_s)
    assert run_tag == "run:smoke-4242-2026-11-27T21:00:00Z"
    assert [(a.time_ms, a.time_end_ms) for a in annotations] == [
        (1_790_000_010_625, 1_790_000_021_000),
        (1_790_000_030_500, 1_790_000_041_500),
    ]
    assert annotations[0].tags == ("gameday", "fault", "kind:power-off", "seed:4242", run_tag)
    assert annotations[0].text == "fault power-off (node=az-a-1): smoke seed 4242"
    # Short facts only: a partition's 32 links and the pids would bury the kind and the AZ.
    assert annotations[1].text == "fault partition-az (process_ids=node-b1+node-b2, az=az-b): smoke seed 4242"


def test_a_fault_without_a_heal_is_a_point_that_says_so() -> None:
    _, annotations = fault_annotations(summary(faults=[{"kind": "pause", "start_s": 5.0}]), 100.0)
    assert annotations[0].time_ms == annotations[0].time_end_ms == 105_000
    assert "no heal recorded" in annotations[0].text


@pytest.mark.parametrize(
    ("faults", "message"),
    [(None, "no \"faults\" list"), ([{"kind": "pause"}], r"faults\[0\] has no numeric start_s")],
)
def test_broken_fault_lists_are_named(faults: Any, message: str) -> None:
    broken = summary()
    broken.pop("faults") if faults is None else broken.update(faults=faults)
    with pytest.raises(PushError, match=message):
        fault_annotations(broken, 0.0)


def test_tags_stay_url_safe_because_grafana_client_does_not_escape_them() -> None:
    run_tag, annotations = fault_annotations(summary(scenario="my scenario&x=1"), 0.0)
    assert run_tag == "run:my_scenario_x_1-4242-2026-11-27T21:00:00Z"
    assert all(tag.replace(":", "").replace("-", "").replace("_", "").replace(".", "").isalnum()
               for annotation in annotations for tag in annotation.tags)


def test_dashboard_payload_overwrites_by_uid_and_leaves_the_model_alone() -> None:
    model = dashboard_models(RunThresholds(0.97, 800.0, 20.0))["canaries.json"]
    payload = dashboard_payload(model, "gameday")
    assert payload["overwrite"] is True and payload["folderUid"] == "gameday"
    assert payload["dashboard"]["id"] is None and payload["dashboard"]["uid"] == "gameday-canaries"
    assert "id" not in model
    assert "folderUid" not in dashboard_payload(model, None)


def test_the_runs_thresholds_are_drawn() -> None:
    assert thresholds_from_summary(summary()) == RunThresholds(0.97, 800.0, 20.0)
    assert thresholds_from_summary(summary(thresholds={"window_s": "ten"})) is None


# ---- the run directory -----------------------------------------------------------------------------


def test_missing_or_broken_run_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(PushError, match="does not exist"):
        read_run(tmp_path / "absent")
    with pytest.raises(PushError, match="summary.json is missing"):
        read_run(tmp_path)
    (tmp_path / "summary.json").write_text("{not json")
    with pytest.raises(PushError, match="not valid JSON"):
        read_run(tmp_path)


def test_torn_canary_lines_are_skipped(tmp_path: Path) -> None:
    lines = [json.dumps({"time_s": 10.0, "wall_time_s": 110.0}), '{"time_s": 11.0, "wall_t', "\x00garbage"]
    _, offsets = read_run(write_run(tmp_path, summary(), lines))
    assert offsets == [100.0]
    assert run_faults(summary(), offsets).annotations[0].time_ms == round((RUN_START_MONOTONIC_S + 100 + 10.125) * 1000)


# ---- the command in this environment ---------------------------------------------------------------


def test_the_main_environment_keeps_the_real_urllib3() -> None:
    """boto3 here must run on urllib3 itself; grafana-client's urllib3-future would replace it."""
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("urllib3-future")
    assert importlib.util.find_spec("grafana_client") is None


def test_push_without_grafana_client_says_how_to_install_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = write_run(tmp_path / "run", summary())
    code = gameday_main(["dashboards", "push", "--grafana", "http://127.0.0.1:9", "--token", TOKEN, "--run", str(run_dir)])
    assert code == 2
    error = capsys.readouterr().err
    assert "pip install 'gameday-harness[grafana]'" in error and "separate environment" in error


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--token", TOKEN, "--run", "{tmp}/absent"], "does not exist"),
        (["--run", "{tmp}"], "no token"),
        (["--token", TOKEN, "--scenario", "no-such-scenario"], "no-such-scenario"),
        (["--token", TOKEN, "--annotations-only"], "--annotations-only needs --run"),
    ],
)
def test_push_refuses_bad_input_before_any_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, arguments: list[str], message: str
) -> None:
    monkeypatch.delenv("GRAFANA_TOKEN", raising=False)
    arguments = [argument.replace("{tmp}", str(tmp_path)) for argument in arguments]
    assert gameday_main(["dashboards", "push", "--grafana", "http://127.0.0.1:9", *arguments]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


def test_write_puts_the_same_files_as_the_generator(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gameday_main(["dashboards", "write", str(tmp_path / "cli")]) == 0
    write_dashboards(tmp_path / "library")
    written = sorted(p.relative_to(tmp_path / "cli") for p in (tmp_path / "cli").rglob("*") if p.is_file())
    assert written == sorted(p.relative_to(tmp_path / "library") for p in (tmp_path / "library").rglob("*") if p.is_file())
    for relative in written:
        assert (tmp_path / "cli" / relative).read_text() == (tmp_path / "library" / relative).read_text()


# ---- the stand-in's rules, through plain HTTP ------------------------------------------------------


@pytest.fixture
def grafana() -> Iterator[GrafanaStandIn]:
    with GrafanaStandIn([TOKEN]) as stand_in:
        yield stand_in


def call(grafana: GrafanaStandIn, method: str, path: str, body: Any = None, token: str | None = TOKEN) -> tuple[int, Any]:
    request = urllib.request.Request(
        grafana.url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_standin_wants_a_known_token_except_for_health(grafana: GrafanaStandIn) -> None:
    assert call(grafana, "GET", "/api/health", token=None)[0] == 200
    assert call(grafana, "GET", "/api/folders", token=None) == (401, {"message": "Unauthorized"})
    assert call(grafana, "GET", "/api/folders", token="wrong") == (401, {"message": "invalid API key"})
    assert call(grafana, "GET", "/api/folders") == (200, [])


def test_standin_dashboard_versions_follow_grafanas_rules(grafana: GrafanaStandIn) -> None:
    model = {"uid": "d1", "title": "One", "version": 0, "panels": []}
    status, created = call(grafana, "POST", "/api/dashboards/db", {"dashboard": model})
    assert (status, created["status"], created["version"], created["uid"]) == (200, "success", 1, "d1")
    # The version a client read may be saved again; then it is stale.
    assert call(grafana, "POST", "/api/dashboards/db", {"dashboard": {**model, "version": 1}})[1]["version"] == 2
    status, refused = call(grafana, "POST", "/api/dashboards/db", {"dashboard": {**model, "version": 1}})
    assert (status, refused["status"]) == (412, "version-mismatch")
    forced = call(grafana, "POST", "/api/dashboards/db", {"dashboard": {**model, "version": 1}, "overwrite": True})
    assert forced[1]["version"] == 3
    status, namesake = call(grafana, "POST", "/api/dashboards/db", {"dashboard": {"uid": "d2", "title": "one"}})
    assert (status, namesake["status"]) == (412, "name-exists")
    status, stored = call(grafana, "GET", "/api/dashboards/uid/d1")
    assert status == 200 and stored["dashboard"]["version"] == 3 and stored["meta"]["folderTitle"] == "General"
    assert call(grafana, "GET", "/api/dashboards/uid/nope") == (404, {"message": "Dashboard not found"})
    assert call(grafana, "POST", "/api/dashboards/db", {"dashboard": {"uid": "x", "title": "X"}, "folderUid": "no"})[0] == 400


def test_standin_annotations_filter_like_grafana(grafana: GrafanaStandIn) -> None:
    call(grafana, "POST", "/api/dashboards/db", {"dashboard": {"uid": "d1", "title": "One"}})
    for start_ms, tags in [(1000, ["a", "b"]), (5000, ["a"]), (9000, ["b"])]:
        body = {"dashboardUID": "d1", "time": start_ms, "timeEnd": start_ms + 500, "tags": tags, "text": "t"}
        assert call(grafana, "POST", "/api/annotations", body)[1]["message"] == "Annotation added"
    times = lambda query: [a["time"] for a in call(grafana, "GET", "/api/annotations?" + query)[1]]  # noqa: E731
    assert times("dashboardUID=d1") == [9000, 5000, 1000]  # newest first
    assert times("tags=a") == [5000, 1000]
    assert times("tags=a&tags=b") == [1000]  # every tag must match
    assert times("from=1400&to=5000") == [5000, 1000]  # overlap, not containment
    assert times("limit=1") == [9000]
    assert times("dashboardUID=other") == []
    annotation_id = call(grafana, "GET", "/api/annotations?tags=a&tags=b")[1][0]["id"]
    assert call(grafana, "DELETE", f"/api/annotations/{annotation_id}") == (200, {"message": "Annotation deleted"})
    assert times("dashboardUID=d1") == [9000, 5000]
    assert call(grafana, "POST", "/api/annotations", {"dashboardUID": "nope", "text": "t"})[0] == 404
    assert call(grafana, "POST", "/api/annotations", {"dashboardUID": "d1", "text": ""})[0] == 400
