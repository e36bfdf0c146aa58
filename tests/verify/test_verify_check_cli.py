"""`gameday check` through the real dispatcher, and once as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import gameday.cli
from tests.verify.verify_history_builder import HistoryBuilder

REPOSITORY = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, builder: HistoryBuilder) -> Path:
    path = tmp_path / "history.jsonl"
    path.write_text(builder.text())
    return path


def test_valid_register_history_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h = (
        HistoryBuilder()
        .invoke(1, "write", 1)
        .ok(1, "write", 1)
        .invoke(2, "read")
        .ok(2, "read", 1)
        .nemesis("kill")
    )
    assert gameday.cli.main(["check", str(write(tmp_path, h))]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["valid"] is True and verdict["keys"]["k"]["valid"] is True
    assert verdict["nemesis_event_count"] == 1


def test_invalid_history_exits_1_with_witness_and_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    h = HistoryBuilder().invoke(1, "write", 1).ok(1, "write", 1).invoke(2, "read").ok(2, "read", None)
    out = tmp_path / "out"
    assert gameday.cli.main(["check", str(write(tmp_path, h)), "--out", str(out)]) == 1
    captured = capsys.readouterr()
    verdict = json.loads(captured.out)
    assert verdict["invalid_keys"] == ["k"]
    assert [op["f"] for op in verdict["keys"]["k"]["witness"]["operations"]] == ["write", "read"]
    assert "! p2 read null ok" in captured.err
    assert "<svg" in (out / "timeline-k.html").read_text()
    assert json.loads((out / "verdict.json").read_text())["valid"] is False


def test_set_model_reports_lost(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h = (
        HistoryBuilder(key=None)
        .invoke(1, "add", 1)
        .ok(1, "add", 1)
        .invoke(1, "read-set")
        .ok(1, "read-set", [])
    )
    assert gameday.cli.main(["check", str(write(tmp_path, h)), "--model", "set"]) == 1
    assert json.loads(capsys.readouterr().out)["keys"]["null"]["lost"] == [1]


def test_bad_input_exits_2_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(
        HistoryBuilder().invoke(1, "write", 1).text()
        + '{"time": 1, "process": 1, "type": "ok", "f": "add"}\n'
    )
    assert gameday.cli.main(["check", str(path)]) == 2
    error = capsys.readouterr().err
    assert f"{path}:2:" in error and "does not match" in error and "Traceback" not in error
    assert gameday.cli.main(["check", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
    adds = HistoryBuilder().invoke(1, "add", 1).ok(1, "add", 1)
    assert gameday.cli.main(["check", str(write(tmp_path, adds)), "--model", "register"]) == 2
    assert "not a register operation" in capsys.readouterr().err


def test_empty_history_is_unknown(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text("")
    assert gameday.cli.main(["check", str(path)]) == 2


def test_real_process(tmp_path: Path) -> None:
    """The installed console script, with every subcommand module imported as in production."""
    executable = Path(sys.executable).parent / "gameday"
    assert executable.is_file(), (
        f"{executable} is missing: install the project into the venv (pip install -e .)"
    )
    h = HistoryBuilder().invoke(1, "write", 1).ok(1, "write", 1).invoke(2, "read").ok(2, "read", 2)
    completed = subprocess.run(
        [str(executable), "check", str(write(tmp_path, h))],
        capture_output=True, text=True, timeout=60, cwd=REPOSITORY,
    )  # fmt: skip
    assert completed.returncode == 1, completed.stderr
    assert json.loads(completed.stdout)["valid"] is False


def test_list_append_model_names_the_anomaly_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h = (
        HistoryBuilder(key=None)
        .invoke(1, "txn", [["r", "x", None], ["append", "y", 1]])
        .invoke(2, "txn", [["r", "y", None], ["append", "x", 1]])
        .ok(1, "txn", [["r", "x", []], ["append", "y", 1]])
        .ok(2, "txn", [["r", "y", []], ["append", "x", 1]])
        .invoke(3, "txn", [["r", "x", None], ["r", "y", None]])
        .ok(3, "txn", [["r", "x", [1]], ["r", "y", [1]]])
    )
    path = write(tmp_path, h)
    assert gameday.cli.main(["check", str(path), "--model", "list-append"]) == 1
    captured = capsys.readouterr()
    verdict = json.loads(captured.out)
    assert verdict["model"] == "list-append" and verdict["valid"] is False
    assert verdict["anomaly_counts"] == {"G2": 1} and verdict["transaction_count"] == 3
    assert "a G2 cycle" in captured.err and "line 1" in captured.err
    # The same history without the final read proves no order: valid.
    valid = HistoryBuilder(key=None).invoke(1, "txn", [["append", "x", 1]]).ok(1, "txn", [["append", "x", 1]])
    assert gameday.cli.main(["check", str(write(tmp_path, valid)), "--model", "list-append"]) == 0
    assert json.loads(capsys.readouterr().out)["committed_count"] == 1
    # A register history is no list-append one: bad input, exit 2, one line naming it.
    register = HistoryBuilder().invoke(1, "write", 1).ok(1, "write", 1)
    assert gameday.cli.main(["check", str(write(tmp_path, register)), "--model", "list-append"]) == 2
    assert "no list-append transaction" in capsys.readouterr().err
