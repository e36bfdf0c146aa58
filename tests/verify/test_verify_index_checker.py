"""The index checker: an index may lag its table but never invent an entry; after the heal it equals the
table; the lag is measured from each write to the first read of its slot that returned it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import gameday.cli
from tests.verify.verify_history_builder import HistoryBuilder
from verify.index_checker import IndexModelMismatchError, check_index


def write(h: HistoryBuilder, process: int, item: str, slot: str, w: int, outcome: str = "ok") -> HistoryBuilder:
    value = {"slot": slot, "w": w}
    h.invoke(process, "write", value, key=item)
    return getattr(h, outcome)(process, "write", value, key=item)


def read(h: HistoryBuilder, process: int, slot: str, entries: list[list[Any]]) -> HistoryBuilder:
    return h.invoke(process, "read", key=slot).ok(process, "read", entries, key=slot)


def final(h: HistoryBuilder, table: list[list[Any]], index: list[list[Any]], converged: float | None = 0.4,
          **added: Any) -> HistoryBuilder:  # fmt: skip
    value = {"table": table, "index": index, "attempts": 3, "converged_after_s": converged, **added}
    return h.invoke(99, "read-index", key=None).ok(99, "read-index", value, key=None)


def test_a_lagging_index_that_catches_up_is_valid_and_its_lag_is_measured() -> None:
    h = HistoryBuilder(key=None)
    write(h, 1, "ix0", "s1", 11)            # completes at t=10
    read(h, 2, "s1", [])                    # invoked at 20: not there yet
    read(h, 2, "s1", [["ix0", 11]])         # invoked at 40: seen, 30 ns after the write completed
    write(h, 1, "ix0", "s2", 12)            # moved to s2, completes at 70
    read(h, 3, "s1", [["ix0", 11]])         # the old entry still there: lag, not an anomaly
    read(h, 3, "s2", [["ix0", 12]])         # invoked at 100
    final(h, [["ix0", "s2", 12]], [["ix0", "s2", 12]])
    result = check_index(h.operations())
    assert result.validity is True and result.reason is None
    assert result.write_counts == {"ok": 2, "fail": 0, "info": 0} and result.read_count == 4
    assert [round(lag * 1e9) for _, lag in result.lag_samples] == [30, 30]
    assert result.converged_after_s == 0.4


def test_an_invented_a_misplaced_and_a_premature_entry_are_anomalies() -> None:
    h = HistoryBuilder(key=None)
    read(h, 2, "s1", [["ix0", 11]])         # before the write of 11 was even invoked
    write(h, 1, "ix0", "s1", 11)
    read(h, 2, "s2", [["ix0", 11]])         # 11 was written to s1
    read(h, 2, "s1", [["ix9", 11], ["ix0", 99]])  # 11 is ix0's; nobody wrote 99
    final(h, [["ix0", "s1", 11]], [["ix0", "s1", 11]])
    result = check_index(h.operations())
    assert result.validity is False
    assert result.anomaly_counts == {"from-the-future": 1, "wrong-slot": 1, "phantom": 2}
    assert "before its write" in result.anomalies["from-the-future"][0]


def test_an_index_that_never_equals_the_table_after_the_heal_is_invalid() -> None:
    h = HistoryBuilder(key=None)
    write(h, 1, "ix0", "s1", 11)
    write(h, 1, "ix1", "s1", 12)
    write(h, 1, "ix1", "s2", 13)
    final(h, [["ix0", "s1", 11], ["ix1", "s2", 13]], [["ix1", "s1", 12], ["ix1", "s2", 13]], converged=None)
    result = check_index(h.operations())
    assert result.validity is False and result.anomaly_counts == {"not-converged": 2}
    assert any("ix0 in s1 with w=11 is missing" in text for text in result.anomalies["not-converged"])
    assert any("ix1 in s1 with w=12 is not the table's item" in text for text in result.anomalies["not-converged"])


def test_without_a_final_read_convergence_is_unknown_and_a_foreign_operation_is_refused() -> None:
    h = HistoryBuilder(key=None)
    write(h, 1, "ix0", "s1", 11)
    assert check_index(h.operations()).validity == "unknown"
    h.invoke(2, "cas", [1, 2], key="ix0").ok(2, "cas", [1, 2], key="ix0")
    with pytest.raises(IndexModelMismatchError, match="no index operation"):
        check_index(h.operations())
    bad = HistoryBuilder(key=None)
    bad.invoke(1, "write", 5, key="ix0").ok(1, "write", 5, key="ix0")
    with pytest.raises(IndexModelMismatchError, match="line 1"):
        check_index(bad.operations())


def test_gameday_check_judges_an_index_history_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h = HistoryBuilder(key=None)
    write(h, 1, "ix0", "s1", 11)
    read(h, 2, "s1", [["ix0", 11]])
    final(h, [["ix0", "s1", 11]], [])
    path = tmp_path / "history-index.jsonl"
    path.write_text(h.text())
    assert gameday.cli.main(["check", str(path), "--model", "index"]) == 1
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["model"] == "index" and verdict["anomaly_counts"] == {"not-converged": 1}
    assert verdict["lag_samples"] == 1 and verdict["lag_max_s"] is not None


ROWS = [["ix0", "s1", 11], ["ix1", "s2", 12]]


def _with_added_index(add_outcome: str | None, status: str | None, added: list[list[Any]] | None) -> Any:
    h = HistoryBuilder(key=None)
    write(h, 1, "ix0", "s1", 11)
    if add_outcome is not None:
        h.invoke(98, "add-index", key="by-slot-added")
        getattr(h, add_outcome)(98, "add-index", None, key="by-slot-added")
    write(h, 1, "ix1", "s2", 12)
    final(h, ROWS, ROWS, added_status=status, added=added)
    return check_index(h.operations())


@pytest.mark.parametrize(("add_outcome", "status", "added", "anomalies"), [
    ("ok", "ACTIVE", ROWS, {}),                                  # backfilled under the faults, equal
    ("info", None, None, {}),                                    # unknown, and it did not happen
    ("info", "ACTIVE", ROWS, {}),                                # unknown, and it did
    ("fail", None, None, {}),
    (None, None, None, {}),                                      # no add-index in the run
    ("ok", None, None, {"added-index-lost": 1}),                 # acknowledged, yet no such index
    ("ok", "CREATING", None, {"not-backfilled": 1}),             # still backfilling after the heal and budget
    ("ok", "ACTIVE", ROWS[:1], {"added-not-converged": 1}),      # a backfill that missed an item
    ("ok", "ACTIVE", [*ROWS, ["ix9", "s1", 7]], {"added-not-converged": 1}),
    ("fail", "ACTIVE", ROWS, {"added-index-unasked": 1}),        # a refused UpdateTable that took effect
])  # fmt: skip
def test_an_index_added_during_the_run_must_be_backfilled_and_equal_the_table_unless_it_was_never_made(
    add_outcome: str | None, status: str | None, added: list[list[Any]] | None, anomalies: dict[str, int]
) -> None:
    result = _with_added_index(add_outcome, status, added)
    assert result.anomaly_counts == anomalies
    assert result.validity is (not anomalies)
