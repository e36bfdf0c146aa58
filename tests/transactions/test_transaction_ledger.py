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

    def decide(self, txn: str, decision: str, at_s: float = 1000.0, **extra: object) -> dict:
        return self.apply(op="txn_decide", txn=txn, decision=decision, at_s=at_s, **extra)


def test_the_first_decision_wins_and_survives_a_restart(tmp_path: Path) -> None:
    metadata = Metadata(tmp_path)
    assert metadata.decide("t1", "cancel") == {"status": "ok", "decision": "cancel"}
    assert metadata.decide("t1", "commit") == {"status": "ok", "decision": "cancel"}  # a late coordinator loses
    assert metadata.decide("t2", "commit")["decision"] == "commit"
    assert metadata.decide("t2", "cancel")["decision"] == "commit"  # a janitor finds the commit
    assert metadata.decide("t1", "maybe")["status"] == "invalid"
    metadata.machine.close()
    reopened = CatalogueStateMachine(tmp_path, NODES, default_partition_count=1)
    assert reopened.ledger.decision("t1") == "cancel" and reopened.ledger.decision("t2") == "commit"
    assert reopened.ledger.decision("t3") is None


def test_a_token_answers_within_its_window_only(tmp_path: Path) -> None:
    metadata = Metadata(tmp_path)
    metadata.decide("t1", "commit", at_s=1000.0, token="tok", digest="d1")
    ledger = metadata.machine.ledger
    assert ledger.token("tok", 1000.0 + TOKEN_WINDOW_S - 1) == {"txn": "t1", "digest": "d1", "decided_s": 1000.0}
    assert ledger.token("tok", 1000.0 + TOKEN_WINDOW_S + 1) is None
    # A second transaction under the token, prepared beside the first: the recorded one stands.
    second = metadata.decide("t2", "commit", at_s=1001.0, token="tok", digest="d2")
    assert second["decision"] == "cancel" and second["token_used_by"]["txn"] == "t1"
    assert ledger.token("other", 1001.0) is None
    # A cancelled transaction holds no token.
    metadata.decide("t3", "cancel", at_s=1002.0, token="tok3")
    assert ledger.token("tok3", 1003.0) is None


def test_purges_drop_old_decisions_but_not_unfinished_commits(tmp_path: Path) -> None:
    metadata = Metadata(tmp_path)
    metadata.decide("cancelled", "cancel", at_s=0.0)
    metadata.decide("finished", "commit", at_s=0.0)
    metadata.apply(op="txn_finish", txn="finished", at_s=1.0)
    metadata.decide("unfinished", "commit", at_s=0.0)
    metadata.decide("recent", "cancel", at_s=KEEP_DECIDED_S)
    assert metadata.apply(op="txn_purge", now_s=KEEP_DECIDED_S + 1) == {"status": "ok", "purged": 2}
    ledger = metadata.machine.ledger
    assert ledger.decision("unfinished") == "commit" and ledger.decision("recent") == "cancel"
    assert metadata.apply(op="txn_purge", now_s=KEEP_UNFINISHED_S + 1)["purged"] == 2


def test_the_leader_proposes_a_purge_at_most_once_a_period() -> None:
    now = [100.0]
    service = LedgerService(lambda: None, None, None, clock=lambda: now[0])  # type: ignore[arg-type]
    assert service.purge_due() is None
    now[0] += PURGE_EVERY_S
    assert service.purge_due() == {"op": "txn_purge", "now_s": now[0]}
    assert service.purge_due() is None
