"""The bank checker: one total across every read and no negative balance; the total declared by the
workload, else the most common one; malformed operations refused naming their line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import gameday.cli
from tests.verify.verify_history_builder import HistoryBuilder
from verify.bank_checker import BankModelMismatchError, check_bank


def bank(*steps: tuple[str, Any]) -> HistoryBuilder:
    """Each step one transaction, invoked and completed in turn: ("transfer", {...}) or ("read", balances)."""
    h = HistoryBuilder(key=None)
    for process, (function, value) in enumerate(steps):
        if function == "transfer":
            h.invoke(process, "transfer", value).ok(process, "transfer", value)
        elif function == "transfer-fail":
            h.invoke(process, "transfer", value).fail(process, "transfer", value)
        else:
            h.invoke(process, "read").ok(process, "read", value)
    return h


MOVE = {"from": "a", "to": "b", "amount": 3}


def test_transfers_that_keep_the_total_and_no_balance_negative_are_valid() -> None:
    h = bank(("read", {"a": 10, "b": 10}), ("transfer", MOVE), ("read", {"a": 7, "b": 13}),
             ("transfer-fail", {"from": "b", "to": "a", "amount": 50}), ("read", {"a": 7, "b": 13}))  # fmt: skip
    result = check_bank(h.operations())
    assert result.validity is True and result.expected_total == 20 and result.read_count == 3
    assert result.transfer_counts == {"ok": 1, "fail": 1}


def test_a_transfer_seen_halfway_is_a_wrong_total_and_an_overdraft_a_negative_balance() -> None:
    h = bank(("read", {"a": 10, "b": 10}), ("read", {"a": 7, "b": 10}), ("read", {"a": 7, "b": 13}),
             ("read", {"a": -2, "b": 22}))  # fmt: skip
    result = check_bank(h.operations())
    assert result.validity is False
    assert result.anomaly_counts == {"wrong-total": 1, "negative-balance": 1}
    assert "total of 17, not 20" in result.anomalies["wrong-total"][0]
    assert "line 3" in result.anomalies["wrong-total"][0]  # the read's invoke
    assert "a at -2" in result.anomalies["negative-balance"][0]


def test_a_declared_total_wins_over_the_most_common_one() -> None:
    h = bank(("read", {"a": 9, "b": 10}), ("read", {"a": 9, "b": 10}), ("read", {"a": 10, "b": 10}))
    inferred = check_bank(h.operations())  # 19 is the most common total: the third read looks wrong
    assert inferred.anomaly_counts == {"wrong-total": 1} and inferred.expected_total == 19
    declared = check_bank(h.operations(), declared_total=20)
    assert declared.anomaly_counts == {"wrong-total": 2} and declared.total_source == "declared"


def test_a_read_of_other_accounts_and_malformed_operations() -> None:
    h = bank(("read", {"a": 10, "b": 10}), ("read", {"a": 10, "b": 10}), ("read", {"a": 10, "c": 10}))
    assert check_bank(h.operations()).anomaly_counts == {"wrong-accounts": 1}
    with pytest.raises(BankModelMismatchError, match="line 1: a transfer's value"):
        check_bank(bank(("transfer", {"from": "a", "to": "b", "amount": -1})).operations())
    with pytest.raises(BankModelMismatchError, match="line 2: a read's value"):
        check_bank(bank(("read", {"a": "lots"})).operations())
    assert check_bank(bank(("transfer", MOVE)).operations()).validity == "unknown"  # no read: nothing seen


def test_gameday_check_bank_takes_the_total_the_workload_declared(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h = bank(("read", {"a": 9, "b": 10}), ("read", {"a": 9, "b": 10}))
    h.documents.insert(0, {"index": 0, "time": 0, "process": "workload", "type": "info", "f": "bank-setup",
                           "value": {"accounts": ["a", "b"], "total": 20}})  # fmt: skip
    for index, document in enumerate(h.documents):
        document["index"], document["time"] = index, index * 10
    path = tmp_path / "bank.jsonl"
    path.write_text(h.text())
    assert gameday.cli.main(["check", str(path), "--model", "bank"]) == 1
    captured = capsys.readouterr()
    verdict = json.loads(captured.out)
    assert verdict["expected_total"] == 20 and verdict["total_source"] == "declared"
    assert verdict["anomaly_counts"] == {"wrong-total": 2} and "wrong-total: the read at line 2" in captured.err
