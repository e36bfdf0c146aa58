"""The bank and list-append workloads' planning: what they ask the store is what their checkers expect."""

from __future__ import annotations

import random

import pytest

from loadgen.bank_workload import OPENING_BALANCE, BankWorkload, bank_setup
from loadgen.list_append_workload import ListAppendWorkload
from loadgen.operations import UniqueValues


def test_bank_transfers_move_a_positive_amount_between_two_accounts_and_reads_read_them_all() -> None:
    workload = BankWorkload(4, random.Random(1), read_weight=1, transfer_weight=3)
    planned = [workload.plan() for _ in range(400)]
    transfers = [op.value for op in planned if op.function == "transfer"]
    assert 200 < len(transfers) < 400 and any(op.function == "read" for op in planned)
    assert all(t["from"] != t["to"] and t["amount"] >= 1 and {t["from"], t["to"]} <= set(workload.accounts)
               for t in transfers)  # fmt: skip
    assert bank_setup(4) == {"accounts": workload.accounts, "total": 4 * OPENING_BALANCE}
    with pytest.raises(ValueError, match="at least 2"):
        BankWorkload(1, random.Random(1))


def test_list_append_transactions_append_unique_elements_or_read_distinct_keys() -> None:
    workload = ListAppendWorkload(5, UniqueValues(2), random.Random(7))
    planned = [workload.plan() for _ in range(300)]
    assert all(op.function == "txn" for op in planned)
    elements = [element for op in planned for kind, _, element in op.value if kind == "append"]
    assert elements and len(set(elements)) == len(elements)  # unique across the history
    for op in planned:
        kinds = {kind for kind, _, _ in op.value}
        keys = [key for _, key, _ in op.value]
        assert kinds in ({"append"}, {"r"}) and len(set(keys)) == len(keys) <= 3  # DynamoDB: reads or writes
    assert {key for op in planned for _, key, _ in op.value} == set(workload.keys)
