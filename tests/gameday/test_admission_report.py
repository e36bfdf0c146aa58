"""The report's hot-key section: drawn from summary.json's `admission` numbers, absent for other runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gameday.report import build_report_html
from gameday.report.hot_key import hot_key_section


def _admission() -> dict[str, Any]:
    return {
        "enabled": True,
        "hot_phase": {"start_s": 20.0, "end_s": 50.0, "hot_keys": ["hot-0", "hot-6"], "cut_short": False},
        "cold_baseline": {"count": 900, "p50_ms": 4.2, "p99_ms": 12.5},
        "cold_hot_phase": {"count": 1500, "p50_ms": 5.1, "p99_ms": 19.75},
        "p50_bound_ms": 9.2,
        "p99_bound_ms": 37.5,
        "throttles_in_history": 1234,
        "throttles_at_routers": 1240,
        "splits_in_hot_phase": 1,
        "splits": [{"table": "register-7", "parent": "ab-p0", "child": "ab-p4", "reason": "throttled",
                    "begun_s": 25.0, "finished_s": 26.5, "in_hot_phase": True}],  # fmt: skip
        "throttles_per_second": [[21.0, 300.0], [22.0, 280.0], [23.0, 10.0]],
        "cold_p99_ms_per_2s": [[0.0, 11.0], [2.0, 12.0], [22.0, 19.0]],
    }


def test_the_section_shows_throttles_splits_and_cold_latency() -> None:
    html = hot_key_section(_admission())
    assert "<h2>Hot keys: admission control</h2>" in html and "<strong>on</strong>" in html
    assert html.count("<svg") == 2
    assert "Throttled hot-key requests per second" in html and "hot phase" in html and "split" in html
    assert "1234" in html and "1240" in html
    for number in ("4.2", "12.5", "5.1", "19.8", "9.2", "37.5"):  # baseline, hot phase, bounds
        assert f">{number}<" in html, number
    assert "ab-p4" in html and ">26.5<" in html


def test_missing_pieces_are_said_not_crashed_on() -> None:
    assert hot_key_section(None) == "" and hot_key_section({}) == ""
    html = hot_key_section({"enabled": False, "splits": [], "throttles_per_second": "garbage", "hot_phase": None})
    assert "<strong>off</strong>" in html and "No partition split was reported" in html


def test_the_report_page_carries_the_section_only_for_hot_key_runs(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text(json.dumps({"scenario": "hot-key", "seed": 1, "admission": _admission()}))
    assert "Hot keys: admission control" in build_report_html(tmp_path)
    (tmp_path / "summary.json").write_text(json.dumps({"scenario": "smoke", "seed": 1}))
    assert "Hot keys" not in build_report_html(tmp_path)
