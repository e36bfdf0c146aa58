"""The live progress line counts what the run's files say, whatever their JSON spacing."""

from __future__ import annotations

import time
from pathlib import Path

from gameday.progress import ProgressReporter


def test_progress_counts_completions_and_canary_errors_from_compact_and_spaced_json(tmp_path: Path) -> None:
    shards = tmp_path / "load-register" / "shards"
    shards.mkdir(parents=True)
    (shards / "history.worker0.jsonl").write_text(
        '{"index": 0, "time": 1, "process": 0, "type": "invoke", "f": "read"}\n'
        '{"index": 1, "time": 2, "process": 0, "type": "ok", "f": "read", "value": null}\n'
        '{"index":2,"time":3,"process":1,"type":"info","f":"write","value":1}\n'
        '{"index": 3, "time": 4, "process": 2, "type": "ok"'  # half-written: waits for the next report
    )
    (tmp_path / "canaries.jsonl").write_text(
        '{"outcome":"ok","time_s":1}\n{"outcome":"error","time_s":2}\n{"outcome": "stale", "time_s": 3}\nnot json\n'
    )
    lines: list[str] = []
    reporter = ProgressReporter(tmp_path, lines.append, time.monotonic() - 10, total_s=100)
    reporter.last_report_s -= 10
    reporter.maybe_report("faults")
    assert lines[0].endswith("phase: faults")
    # 1 ok and 1 info completed; 3 canary records parse, 1 of them an error.
    assert "errors  50.0%" in lines[1]
    assert "canary availability  66.7%" in lines[1]
