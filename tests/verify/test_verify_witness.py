"""Witnesses shrink to the operations a person needs, and the timelines show them."""

from __future__ import annotations

from tests.verify.verify_history_builder import HistoryBuilder
from verify.timeline import render_html_report, render_text_timeline
from verify.witness import find_witness


def stale_read_history() -> HistoryBuilder:
    h = HistoryBuilder().invoke(1, "write", 1).ok(1, "write", 1)
    for _ in range(20):
        h.invoke(3, "read").ok(3, "read", 1)
    h.invoke(1, "write", 2).ok(1, "write", 2)
    for _ in range(5):
        h.invoke(3, "read").ok(3, "read", 2)
    return h.invoke(2, "read").ok(2, "read", 1).invoke(1, "write", 3).ok(1, "write", 3)


def test_witness_is_the_three_operations_that_explain_a_stale_read() -> None:
    operations = stale_read_history().operations()
    witness = find_witness(operations)
    assert witness is not None and witness.is_minimal
    assert [op.describe() for op in witness.operations] == ["p1 write 1 ok", "p1 write 2 ok", "p2 read 1 ok"]
    assert [op.describe() for op in witness.unplaceable] == ["p2 read 1 ok"]
    assert witness.state_after_partial == 2
    assert witness.cut_line_number == 56  # the completion of the stale read


def test_text_and_html_timelines_mark_the_witness() -> None:
    operations = stale_read_history().operations()
    witness = find_witness(operations)
    text = render_text_timeline(operations, witness)
    blocked_rows = [line for line in text.splitlines() if line.startswith("!")]
    assert len(blocked_rows) == 1 and "p2 read 1 ok" in blocked_rows[0] and "line 55" in blocked_rows[0]
    assert sum(line.startswith("*") for line in text.splitlines()) == 2
    page = render_html_report("k", operations, witness)
    assert page.count("<rect") == len(operations)
    assert "#e06666" in page and "cannot be placed" in page
