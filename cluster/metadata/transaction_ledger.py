"""The transaction ledger: each transaction's decision, replicated through the metadata group's log.

A decision is written once and never changed: the first `txn_decide` for a transaction wins, whether the
coordinator's commit or a janitor's cancel (cluster/node/transaction_janitor.py: a lock left behind
by a coordinator that died). That one conditional write is what makes a transaction atomic: every
participant finishes its lock by the ledger's word. No decision recorded means not committed (presumed
abort), so a cancelled transaction needs no entry unless a janitor asks.

A committed transaction's ClientRequestToken is kept with its request's digest for TOKEN_WINDOW_S:
the same token again answers success without a second effect, a different request under it
IdempotentParameterMismatch. Decisions are purged once old; a committed one only after its coordinator
reported every item finished, or after KEEP_UNFINISHED_S (a participant out of reach that long is
resolved by hand: see the README).
"""

from __future__ import annotations

import sqlite3
from typing import Any

COMMIT, CANCEL = "commit", "cancel"
TOKEN_WINDOW_S = 600.0
KEEP_DECIDED_S = 900.0  # past the token window, so a late janitor finds the decision
KEEP_UNFINISHED_S = 7 * 24 * 3600.0


class TransactionLedger:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS txn_ledger (txn TEXT PRIMARY KEY, decision TEXT NOT NULL,"
            " token TEXT, digest TEXT, decided_s REAL NOT NULL, finished_s REAL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS txn_ledger_token ON txn_ledger (token)")

    def decision(self, txn: str) -> str | None:
        row = self._db.execute("SELECT decision FROM txn_ledger WHERE txn = ?", (txn,)).fetchone()
        return row[0] if row else None

    def token(self, token: str, now_s: float) -> dict[str, Any] | None:
        """The committed transaction that used `token` within the window before `now_s`, if any."""
        row = self._db.execute(
            "SELECT txn, digest, decided_s FROM txn_ledger WHERE token = ? AND decision = ? AND decided_s > ?"
            " ORDER BY decided_s DESC LIMIT 1",
            (token, COMMIT, now_s - TOKEN_WINDOW_S),
        ).fetchone()
        return {"txn": row[0], "digest": row[1], "decided_s": row[2]} if row else None

    # ---- commands (applied alike on every metadata replica: time comes in the command) ---------

    def apply(self, command: dict[str, Any]) -> dict[str, Any]:
        op = command["op"]
        if op == "txn_decide":
            return self._decide(command)
        if op == "txn_finish":
            self._db.execute(
                "UPDATE txn_ledger SET finished_s = ? WHERE txn = ? AND finished_s IS NULL",
                (float(command["at_s"]), str(command["txn"])),
            )
            return {"status": "ok"}
        if op == "txn_purge":
            return self._purge(float(command["now_s"]))
        return {"status": "invalid", "message": f"unknown command {op!r}"}

    def _decide(self, command: dict[str, Any]) -> dict[str, Any]:
        txn, wanted = str(command["txn"]), str(command["decision"])
        if wanted not in (COMMIT, CANCEL):
            return {"status": "invalid", "message": f"unknown decision {wanted!r}"}
        existing = self.decision(txn)
        if existing is not None:
            return {"status": "ok", "decision": existing}
        at_s = float(command["at_s"])
        token = command.get("token")
        if wanted == COMMIT and token is not None:
            used = self.token(str(token), at_s)
            if used is not None:
                # Two requests under one token prepared at once: the one recorded first stands.
                self._record(txn, CANCEL, None, None, at_s)
                return {"status": "ok", "decision": CANCEL, "token_used_by": used}
        self._record(txn, wanted, token if wanted == COMMIT else None, command.get("digest"), at_s)
        return {"status": "ok", "decision": wanted}

    def _record(self, txn: str, decision: str, token: Any, digest: Any, at_s: float) -> None:
        self._db.execute(
            "INSERT INTO txn_ledger (txn, decision, token, digest, decided_s) VALUES (?, ?, ?, ?, ?)",
            (txn, decision, token, digest, at_s),
        )

    def _purge(self, now_s: float) -> dict[str, Any]:
        purged = self._db.execute(
            "DELETE FROM txn_ledger WHERE (decision = ? AND decided_s < ?)"
            " OR (decision = ? AND finished_s IS NOT NULL AND decided_s < ?) OR decided_s < ?",
            (CANCEL, now_s - KEEP_DECIDED_S, COMMIT, now_s - KEEP_DECIDED_S, now_s - KEEP_UNFINISHED_S),
        ).rowcount
        return {"status": "ok", "purged": purged}

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM txn_ledger").fetchone()[0])
