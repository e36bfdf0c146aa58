"""The scrub verifier of a game day, the `gameday scrub` summary and the scrub settings (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cluster.scrub.on_demand import summarize
from cluster.scrub.settings import ScrubSettingsError, scrub_settings
from gameday.checks.scrub import bit_rot_corruptions, judge_scrub, scrub_result

CORRUPTED = [{"group": "g1", "hash": 7, "key": "azE=", "attribute": "v"},
             {"group": "g2", "hash": 9, "key": "azI=", "attribute": "s"}]
EVENTS = [
    {"time": 10_000_000_000, "process": "nemesis", "type": "info", "f": "start-bit-rot",
     "value": {"fault": 1, "process_ids": ["node-b1"], "corrupted": CORRUPTED}},
    {"time": 12_000_000_000, "process": "nemesis", "type": "info", "f": "stop-bit-rot", "value": {"fault": 1}},
]


def _finding(kind: str, group: str, key: str, time_s: float, replica: str = "node-b1") -> dict:
    return {"kind": kind, "group": group, "replica": replica, "keys": [{"hash": 0, "key": key}],
            "time_monotonic_s": time_s}


def test_every_rotten_item_found_and_repaired_is_valid_with_its_detection_time() -> None:
    findings = [_finding("mismatch", "g1", "azE=", 13.5), _finding("repaired", "g1", "azE=", 13.6),
                _finding("mismatch", "g2", "azI=", 14.0), _finding("repaired", "g2", "azI=", 14.2)]
    result = judge_scrub(bit_rot_corruptions(EVENTS), findings)
    assert result.valid is True, result
    assert [row["detected_after_power_on_s"] for row in result.data["corruptions"]] == [1.5, 2.0]
    assert [row["repaired_after_power_on_s"] for row in result.data["corruptions"]] == [1.6, 2.2]


def test_a_rotten_item_never_repaired_or_never_found_fails() -> None:
    only_one = [_finding("mismatch", "g1", "azE=", 13.5), _finding("repaired", "g1", "azE=", 13.6)]
    result = judge_scrub(bit_rot_corruptions(EVENTS), only_one)
    assert result.valid is False and "1 of 2" in result.detail
    # A finding from before the rot does not count for it.
    early = [_finding("mismatch", "g2", "azI=", 5.0), _finding("repaired", "g2", "azI=", 5.1)] + only_one
    assert judge_scrub(bit_rot_corruptions(EVENTS), early).valid is False


def test_a_mismatch_no_fault_explains_fails_and_no_rot_no_findings_is_valid() -> None:
    assert judge_scrub([], []).valid is True
    result = judge_scrub([], [_finding("mismatch", "g3", "eA==", 3.0, replica="node-a1")])
    assert result.valid is False and "diverged" in result.detail


def test_scrub_result_reads_the_nodes_findings_files(tmp_path: Path) -> None:
    nemesis = tmp_path / "nemesis.jsonl"
    nemesis.write_text("".join(json.dumps(event) + "\n" for event in EVENTS))
    findings = tmp_path / "processes" / "node-a1" / "scrub" / "findings.jsonl"
    findings.parent.mkdir(parents=True)
    findings.write_text("".join(json.dumps(_finding(kind, group, key, 13.0)) + "\n"
                                for kind in ("mismatch", "repaired") for group, key in (("g1", "azE="), ("g2", "azI=")))
                        + '{"torn')
    events = tmp_path / "scrub.jsonl"
    assert scrub_result(tmp_path, nemesis, run_start_s=10.0, events_path=events).valid is True
    written = [json.loads(line) for line in events.read_text().splitlines()]
    assert len(written) == 4 and {record["time_s"] for record in written} == {3.0}


def _answer(groups: list[str], rounds: list[dict], enabled: bool = True) -> dict:
    return {"status": {"groups": [{"group": group} for group in groups]}, "run": {"enabled": enabled, "rounds": rounds}}


def test_summary_exit_codes_clean_mismatch_and_undecided() -> None:
    clean = {"n1": _answer(["g1"], [{"group": "g1", "marker_index": 5, "clean": True}]), "n2": _answer(["g1"], [])}
    assert summarize(clean, {})[0] == 0
    repaired = {"n1": _answer(["g1"], [{"group": "g1", "marker_index": 5, "mismatches": [{"replica": "n2"}]}])}
    assert summarize(repaired, {})[0] == 1
    code, report = summarize({"n1": _answer(["g1", "g2"], [{"group": "g1", "marker_index": 5}])}, {})
    assert code == 2 and report["undecided"] == ["g2: no node scrubbed it (no leader answered)"]
    assert summarize(clean, {"n3": "RpcUnavailable: refused"})[0] == 2
    assert summarize({"n1": _answer(["g1"], [], enabled=False)}, {})[0] == 2


def test_settings_from_the_environment_and_their_errors(tmp_path: Path) -> None:
    node_dir = tmp_path / "processes" / "node-a1"
    settings = scrub_settings({}, node_dir)
    assert settings.enabled and settings.archive == str(tmp_path / "archive")
    assert not scrub_settings({"GAMEDAY_SCRUB": "off"}, node_dir).enabled
    assert not scrub_settings({}, node_dir, enabled=False).enabled
    assert scrub_settings({"GAMEDAY_ARCHIVE": "s3://b/p"}, node_dir).archive == "s3://b/p"
    with pytest.raises(ScrubSettingsError, match="GAMEDAY_SCRUB_INTERVAL_S"):
        scrub_settings({"GAMEDAY_SCRUB_INTERVAL_S": "-1"}, node_dir)
    with pytest.raises(ScrubSettingsError, match="on or off"):
        scrub_settings({"GAMEDAY_SCRUB": "maybe"}, node_dir)


def test_a_round_over_a_large_group_waits_in_proportion_to_the_items_it_digested(tmp_path: Path) -> None:
    settings = scrub_settings({"GAMEDAY_SCRUB_ITEMS_PER_S": "1000"}, tmp_path)
    assert settings.items_per_s == 1000
    assert settings.pause_after(0) == settings.pause_after(500) == settings.interval_s  # small groups: the interval
    assert settings.pause_after(50_000) == 50.0  # a scrub's cost a second does not grow with the data
    assert scrub_settings({}, tmp_path).items_per_s == 2000
    with pytest.raises(ScrubSettingsError, match="GAMEDAY_SCRUB_ITEMS_PER_S='lots' is not a number of items a second"):
        scrub_settings({"GAMEDAY_SCRUB_ITEMS_PER_S": "lots"}, tmp_path)
    with pytest.raises(ScrubSettingsError, match="must be a positive number of items a second"):
        scrub_settings({"GAMEDAY_SCRUB_ITEMS_PER_S": "0"}, tmp_path)


def test_the_scrub_counters_are_exported_in_prometheus_text(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from cluster.scrub.findings import FindingsLog
    from cluster.scrub.metrics import ScrubCollector
    from cluster.scrub.settings import ScrubSettings

    class Coordinator:
        findings = FindingsLog(tmp_path)
        settings = ScrubSettings()

    class Node:
        process_id = "node-a1"
        scrub = Coordinator()

    Node.scrub.findings.counters["scrub_repairs_total"] += 2
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ScrubCollector(Node()))  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    assert 'scrub_repairs_total{process="node-a1"} 2.0' in text
    assert 'scrub_rounds_total{process="node-a1"} 0.0' in text
    assert 'scrub_enabled{process="node-a1"} 1.0' in text
