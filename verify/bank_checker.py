"""The bank workload's checker (Jepsen's bank test). Pure.

Accounts hold balances; a `transfer` (value `{"from": a, "to": b, "amount": n}`) moves money between two
of them in one transaction, refused when it would leave `from` negative; a `read` reads every account in
one transaction (value on ok: account -> balance). Money is neither made nor destroyed, so every read must
see the same total, and no balance below zero. A transfer applied halfway (debited, not credited), one
read between its two halves, or one applied twice on one side shows as a read with the wrong total; a
refused condition that was not honoured shows as a negative balance.

The total is the one the workload declared (a `workload` event `bank-setup` with `{"total": n}`) or,
without it, the most common total among the reads (a broken store rarely breaks every read).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from verify.operations import FAIL, OK, Operation

TRANSFER = "transfer"
READ = "read"
BANK_SETUP = "bank-setup"  # a workload event: {"accounts": [...], "total": n}
MAX_LISTED = 10


class BankModelMismatchError(ValueError):
    """The history holds an operation that is no bank transfer or read, or a malformed one."""


@dataclass
class BankResult:
    validity: bool | str
    expected_total: int | None
    total_source: str  # "declared" or "most common"
    read_count: int
    transfer_counts: dict[str, int]
    anomalies: dict[str, list[str]] = field(default_factory=dict)  # kind -> the first few explanations
    anomaly_counts: dict[str, int] = field(default_factory=dict)
    reason: str | None = None


def check_bank(operations: Iterable[Operation], declared_total: int | None = None) -> BankResult:
    reads: list[tuple[Operation, dict[Any, int]]] = []
    transfers: Counter[str] = Counter()
    for operation in operations:
        if operation.function == TRANSFER:
            _transfer(operation)
            transfers[operation.outcome if operation.outcome in (OK, FAIL) else "info"] += 1
        elif operation.function == READ:
            if operation.outcome == OK:
                reads.append((operation, _balances(operation)))
        else:
            raise BankModelMismatchError(
                f"line {operation.invoke_line_number}: f {operation.function!r} is no bank operation (transfer, read)"
            )
    totals = Counter(sum(balances.values()) for _, balances in reads)
    expected = declared_total if declared_total is not None else (totals.most_common(1)[0][0] if totals else None)
    result = BankResult(
        True, expected, "declared" if declared_total is not None else "most common", len(reads), dict(transfers)
    )
    if not reads:
        result.validity, result.reason = "unknown", "no read completed: nothing shows what the accounts held"
        return result
    accounts = Counter(frozenset(balances) for _, balances in reads).most_common(1)[0][0]
    for read, balances in reads:
        where = f"the read at line {read.invoke_line_number}"
        total = sum(balances.values())
        if total != expected:
            _report(result, "wrong-total", f"{where} saw a total of {total}, not {expected}: {_show(balances)}")
        negative = sorted((account, balance) for account, balance in balances.items() if balance < 0)
        if negative:
            _report(result, "negative-balance", f"{where} saw {negative[0][0]} at {negative[0][1]}: {_show(balances)}")
        if frozenset(balances) != accounts:
            missing, extra = sorted(accounts - set(balances)), sorted(set(balances) - accounts)
            _report(result, "wrong-accounts", f"{where} saw accounts missing {missing} and extra {extra}")
    if result.anomaly_counts:
        result.validity = False
    return result


def _transfer(operation: Operation) -> dict[str, Any]:
    value = operation.input_value
    fields = dict(value) if isinstance(value, tuple) else {}
    amount = fields.get("amount")
    if set(fields) != {"from", "to", "amount"} or isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise BankModelMismatchError(
            f"line {operation.invoke_line_number}: a transfer's value must be "
            f'{{"from": account, "to": account, "amount": n >= 0}}, got {value!r}'
        )
    return fields


def _balances(operation: Operation) -> dict[Any, int]:
    value = operation.output_value
    balances = dict(value) if isinstance(value, tuple) else None
    if not balances or any(isinstance(b, bool) or not isinstance(b, int) for b in balances.values()):
        raise BankModelMismatchError(
            f"line {operation.complete_line_number}: a read's value must map each account to a whole balance, got {value!r}"
        )
    return balances


def _show(balances: dict[Any, int]) -> str:
    return ", ".join(f"{account}={balance}" for account, balance in sorted(balances.items(), key=lambda item: str(item[0])))


def _report(result: BankResult, kind: str, explanation: str) -> None:
    result.anomaly_counts[kind] = result.anomaly_counts.get(kind, 0) + 1
    found = result.anomalies.setdefault(kind, [])
    if len(found) < MAX_LISTED:
        found.append(explanation)
