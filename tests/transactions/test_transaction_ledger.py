"""The ledger in the metadata group's state machine: the first decision wins, tokens within their
window, purges that never drop what a participant may still need."""

from __future__ import annotations

import json
from pathlib import Path

from cluster.core.types import Entry
from cluster.metadata.catalogue import NodePlacement
from cluster.metadata.catalogue_state_machine import CatalogueStateMachine
from cluster.metadata.ledger_service import PURGE_EVERY_S, LedgerService
from cluster.metadata.transaction_ledger import KEEP_DECIDED_S, KEEP_UNFINISHED_S, TOKEN_WINDOW_S

NODES = [NodePlacement(f"node-{az}1", f"az-{az}") for az in "abc"]


class Metadata:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.machine = CatalogueStateMachine(directory, NODES, default_partition_count=1)
        self.index = 0

    def apply(self, **command: object) -> dict:
        self.index += 1
        return self.machine.apply([Entry(1, self.index, json.dumps(command).encode())])[self.index]

    def begin(self, txn: str, token: str | None = None, digest: str | None = None, at_s: float = 900.0) -> dict:
        return self.apply(op="txn_begin", txn=txn, token=token, digest=digest, at_s=at_s)

    def decide(self, txn: str, decision: str, at_s: float = 1000.0) -> dict:
        return self.apply(op="txn_decide", txn=txn, decision=decision, at_s=at_s)


def test_the_first_decision_wins_and_survives_a_restart(tmp_path: Path) -> None:
    metadata = Metadata(tmp_path)
    for txn in ("t1", "t2"):
        assert metadata.begin(txn) == {"status": "ok"}
        assert metadata.begin(txn) == {"status": "ok"}  # a retried call
    assert metadata.decide("t1", "cancel") == {"status": "ok", "decision": "cancel"}
    assert metadata.decide("t1", "commit") == {"status": "ok", "decision": "cancel"}  # a late coordinator loses
    assert metadata.decide("t2", "commit")["decision"] == "commit"
    assert metadata.decide("t2", "cancel")["decision"] == "commit"  # a janitor finds the commit
    assert metadata.decide("t1", "maybe")["status"] == "invalid"
    metadata.machine.close()
    reopened = CatalogueStateMachine(tmp_path, NODES, default_partition_count=1)
    assert reopened.ledger.decision("t1") == "cancel" and reopened.ledger.decision("t2") == "commit"
    assert reopened.ledger.decision("t3") is None


def test_a_transaction_the_ledger_does_not_know_can_only_be_cancelled(tmp_path: Path) -> None:
    metadata = Metadata(tmp_path)
    # A coordinator stalled past the janitor's cancel and past that cancel's purge: its commit is refused.
    metadata.begin("stalled", at_s=0.0)
    metadata.decide("stalled", "cancel", at_s=10.0)
    metadata.apply(op="txn_purge", now_s=10.0 + KEEP_DECIDED_S + 1)
    assert metadata.machine.ledger.decision("stalled") is None
    assert metadata.decide("stalled", "commit", at_s=KEEP_DECIDED_S + 20)["decision"] == "cancel"
    assert metadata.decide("never-begun", "commit")["decision"] == "cancel"


def test_a_token_is_in_progress_then_done_then_free_after_its_window(tmp_path: Path) -> None:
    metadata = Metadata(tmp_path)
    assert metadata.begin("t1", token="tok", digest="d1") == {"status": "ok"}
    assert metadata.begin("t2", token="tok", digest="d1") == {"status": "in_progress", "txn": "t1"}
    assert metadata.begin("t2", token="tok", digest="d2") == {"status": "mismatch"}
    metadata.decide("t1", "commit", at_s=1000.0)
    assert metadata.begin("t2", token="tok", digest="d1", at_s=1001.0) == {"status": "unfinished", "txn": "t1"}
    metadata.apply(op="txn_finish", txn="t1", at_s=1002.0)  # the form a log written before batches holds
    assert metadata.begin("t2", token="tok", digest="d1", at_s=1003.0) == {"status": "repeated", "txn": "t1"}
    assert metadata.begin("t2", token="tok", digest="d2", at_s=1003.0) == {"status": "mismatch"}
    later = 1000.0 + TOKEN_WINDOW_S + 1
    assert metadata.begin("t3", token="tok", digest="d2", at_s=later) == {"status": "ok"}  # a new request
    # A cancelled transaction frees its token at once.
    metadata.begin("t4", token="tok4", digest="d4")
    metadata.decide("t4", "cancel")
    assert metadata.begin("t5", token="tok4", digest="d4") == {"status": "ok"}


def test_purges_drop_old_decisions_but_not_unfinished_commits(tmp_path: Path) -> None:
    metadata = Metadata(tmp_path)
    for txn in ("cancelled", "finished", "unfinished", "undecided"):
        metadata.begin(txn, at_s=0.0)
    metadata.decide("cancelled", "cancel", at_s=0.0)
    metadata.decide("finished", "commit", at_s=0.0)
    # A batch of finished transactions (as coordinators report them); an undecided one in it stays unfinished.
    metadata.apply(op="txn_finish", txns=["finished", "undecided"], at_s=1.0)
    metadata.decide("unfinished", "commit", at_s=0.0)
    metadata.begin("recent", at_s=KEEP_DECIDED_S)
    metadata.decide("recent", "cancel", at_s=KEEP_DECIDED_S)
    assert metadata.apply(op="txn_purge", now_s=KEEP_DECIDED_S + 1) == {"status": "ok", "purged": 2}
    ledger = metadata.machine.ledger
    assert ledger.decision("unfinished") == "commit" and ledger.decision("recent") == "cancel"
    assert ledger.count() == 3
    assert metadata.apply(op="txn_purge", now_s=KEEP_UNFINISHED_S + 1)["purged"] == 3
    assert ledger.count() == 0


def test_the_leader_proposes_a_purge_at_most_once_a_period() -> None:
    now = [100.0]
    service = LedgerService(None, clock=lambda: now[0])  # type: ignore[arg-type]
    assert service.purge_due() is None
    now[0] += PURGE_EVERY_S
    assert service.purge_due() == {"op": "txn_purge", "now_s": now[0]}
    assert service.purge_due() is None

