"""Turn per-key results into the JSON verdict `gameday check` prints (DESIGN §4)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from verify.bank_checker import BankResult
from verify.history import thaw
from verify.index_checker import IndexResult
from verify.linearizability import UNKNOWN, Validity
from verify.list_append_checker import ListAppendResult
from verify.register_checker import RegisterKeyResult
from verify.set_checker import SetKeyResult
from verify.timeline import describe_witness

_LISTED_ELEMENTS_LIMIT = 100  # a lost-everything run must not print a million elements


def combine_validity(validities: Iterable[Validity]) -> Validity:
    """Invalid if any key is invalid; otherwise unknown if any is undecided; valid only if all are."""
    combined: Validity = True
    for validity in validities:
        if validity is False:
            return False
        if validity == UNKNOWN:
            combined = UNKNOWN
    return combined


def exit_code(validity: Validity) -> int:
    """Jepsen's convention: 0 valid, 1 invalid, 2 unknown."""
    if validity is True:
        return 0
    return 1 if validity is False else 2


def key_name(key: Hashable | None) -> str:
    return "null" if key is None else str(thaw(key))


def register_verdict(
    results: dict[Hashable | None, RegisterKeyResult], nemesis_event_count: int
) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    for key, result in results.items():
        entry: dict[str, Any] = {
            "valid": result.search.validity,
            "operation_count": len(result.operations),
            "states_explored": result.search.states_explored,
        }
        if result.search.unknown_reason:
            entry["reason"] = result.search.unknown_reason
        if result.counter is not None:
            entry["model"] = "counter"
            entry["final_value"] = result.counter.final_value
            if result.counter.explanation and result.counter.validity is False:
                entry["witness"] = {
                    "explanation": result.counter.explanation,
                    "operations": [operation.to_json_object() for operation in result.counter.culprits],
                }
        if result.witness is not None:
            witness = result.witness
            entry["witness"] = {
                "explanation": describe_witness(witness),
                "operations": [operation.to_json_object() for operation in witness.operations],
                "partial_linearization": [
                    operation.describe() for operation in witness.partial_linearization
                ],
                "state_after_partial_linearization": thaw(witness.state_after_partial),
                "cannot_be_placed": [operation.to_json_object() for operation in witness.unplaceable],
                "cut_line": witness.cut_line_number,
                "minimal": witness.is_minimal,
            }
        keys[key_name(key)] = entry
    return _verdict("register", keys, nemesis_event_count)


def set_verdict(results: dict[Hashable | None, SetKeyResult], nemesis_event_count: int) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    for key, result in results.items():
        entry: dict[str, Any] = {
            "valid": result.validity,
            "ok_add_count": result.ok_add_count,
            "info_add_count": result.unknown_add_count,
            "failed_add_count": result.failed_add_count,
            "read_count": result.read_count,
            "lost_count": len(result.lost),
            "phantom_count": len(result.phantom),
            "stale_count": len(result.stale),
            "recovered_count": result.recovered_count,
            "never_read_count": result.never_read_count,
            "lost": [thaw(element) for element in result.lost[:_LISTED_ELEMENTS_LIMIT]],
            "phantom": [thaw(element) for element in result.phantom[:_LISTED_ELEMENTS_LIMIT]],
            "stale": [thaw(element) for element in result.stale[:_LISTED_ELEMENTS_LIMIT]],
        }
        if result.unknown_reason:
            entry["reason"] = result.unknown_reason
        keys[key_name(key)] = entry
    return _verdict("set", keys, nemesis_event_count)


def _verdict(model: str, keys: dict[str, Any], nemesis_event_count: int) -> dict[str, Any]:
    validity = combine_validity(entry["valid"] for entry in keys.values())
    verdict: dict[str, Any] = {"valid": validity}
    if not keys:
        # An empty history proves nothing; a game day must not pass because the load never ran.
        verdict = {"valid": UNKNOWN, "reason": "the history holds no client operations"}
    return verdict | {
        "model": model,
        "key_count": len(keys),
        "invalid_keys": [name for name, entry in keys.items() if entry["valid"] is False],
        "unknown_keys": [name for name, entry in keys.items() if entry["valid"] == UNKNOWN],
        "nemesis_event_count": nemesis_event_count,
        "keys": keys,
    }


def list_append_verdict(result: ListAppendResult, nemesis_event_count: int) -> dict[str, Any]:
    """One verdict for the whole history: a transaction's anomalies span keys."""
    verdict: dict[str, Any] = {"valid": result.validity}
    if not result.transactions:
        verdict = {"valid": UNKNOWN, "reason": "the history holds no client operations"}
    elif result.unknown_reason:
        verdict["reason"] = result.unknown_reason
    return verdict | {
        "model": "list-append",
        "transaction_count": len(result.transactions),
        "committed_count": result.committed_count,
        "key_count": result.key_count,
        "nemesis_event_count": nemesis_event_count,
        "anomaly_counts": dict(result.anomaly_counts),
        "anomalies": {
            kind: [
                {"explanation": anomaly.explanation, "transactions": [result.describe(n) for n in anomaly.transactions]}
                for anomaly in found
            ]
            for kind, found in result.anomalies.items()
        },
    }


def bank_verdict(result: BankResult, nemesis_event_count: int) -> dict[str, Any]:
    verdict: dict[str, Any] = {"valid": result.validity}
    if result.reason:
        verdict["reason"] = result.reason
    return verdict | {
        "model": "bank",
        "expected_total": result.expected_total,
        "total_source": result.total_source,
        "read_count": result.read_count,
        "transfer_counts": result.transfer_counts,
        "nemesis_event_count": nemesis_event_count,
        "anomaly_counts": dict(result.anomaly_counts),
        "anomalies": result.anomalies,
    }


def index_verdict(result: IndexResult, nemesis_event_count: int) -> dict[str, Any]:
    verdict: dict[str, Any] = {"valid": result.validity}
    if result.reason:
        verdict["reason"] = result.reason
    median, worst = result.lag_median_s, result.lag_max_s
    return verdict | {
        "model": "index",
        "write_counts": result.write_counts,
        "read_count": result.read_count,
        "converged_after_s": result.converged_after_s,
        "lag_samples": len(result.lag_samples),
        "lag_median_s": None if median is None else round(median, 4),
        "lag_max_s": None if worst is None else round(worst, 4),
        # For the report's plot: (the write's completion in the history's seconds, lag), at most ~2,000 points.
        "lag_over_time": [[round(at, 3), round(lag, 4)] for at, lag in result.lag_samples[:: max(1, len(result.lag_samples) // 2000)]],
        "nemesis_event_count": nemesis_event_count,
        "anomaly_counts": dict(result.anomaly_counts),
        "anomalies": result.anomalies,
    }
