"""The transaction ledger: each write transaction's registration and decision, replicated through the
metadata group's log.

A coordinator registers its transaction (`txn_begin`, with the request's ClientRequestToken and digest)
before it prepares anything, and records its decision (`txn_decide`) before it commits anything. A
decision is written once and never changed: the first one wins, whether the coordinator's or a janitor's
cancel (cluster/node/transaction_janitor.py: a lock left behind by a coordinator that died or stalled).
A commit is refused for a transaction the ledger does not know (never registered, or registered so long
ago that its row was purged): a coordinator that wakes up after a janitor cancelled it, and after that
cancel was purged, still cannot commit. That is what makes a transaction atomic: every participant
finishes its lock by the ledger's word, and the word never changes.

A token is bound to its request's digest for TOKEN_WINDOW_S after its transaction is decided: while the
transaction is undecided another request under it is "in progress"; once committed, the same request
is answered as done (after its items are finished) and another one as a mismatch; a cancelled one frees
the token. Decided rows are purged after KEEP_DECIDED_S; a commit whose coordinator never reported its
items finished, and an undecided row, only after KEEP_UNFINISHED_S (a week: a participant
unreachable that long would find no decision and cancel its lock).
"""

from __future__ import annotations

import sqlite3
from typing import Any

COMMIT, CANCEL = "commit", "cancel"
TOKEN_WINDOW_S = 600.0
KEEP_DECIDED_S = 900.0  # past the token window
KEEP_UNFINISHED_S = 7 * 24 * 3600.0


class TransactionLedger:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS txn_ledger (txn TEXT PRIMARY KEY, decision TEXT, token TEXT, digest TEXT,"
            " begun_s REAL NOT NULL, decided_s REAL, finished_s REAL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS txn_ledger_token ON txn_ledger (token)")
        self._db.execute("CREATE INDEX IF NOT EXISTS txn_ledger_begun ON txn_ledger (begun_s)")
        self._db.execute("CREATE INDEX IF NOT EXISTS txn_ledger_decided ON txn_ledger (decided_s)")

    def decision(self, txn: str) -> str | None:
        row = self._db.execute("SELECT decision FROM txn_ledger WHERE txn = ?", (txn,)).fetchone()
        return row[0] if row else None

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM txn_ledger").fetchone()[0])

    # ---- commands (applied alike on every metadata replica: time comes in the command) ---------

    def apply(self, command: dict[str, Any]) -> dict[str, Any]:
        op = command["op"]
        if op == "txn_begin":
            return self._begin(str(command["txn"]), command.get("token"), command.get("digest"), float(command["at_s"]))
        if op == "txn_decide":
            return self._decide(str(command["txn"]), str(command["decision"]), float(command["at_s"]))
        if op == "txn_finish":
            # Coordinators report finished transactions in batches ("txn" alone: a log written before that).
            txns = command["txns"] if "txns" in command else [command["txn"]]
            self._db.executemany(
                "UPDATE txn_ledger SET finished_s = ? WHERE txn = ? AND decision = ? AND finished_s IS NULL",
                [(float(command["at_s"]), str(txn), COMMIT) for txn in txns],
            )
            return {"status": "ok"}
        if op == "txn_purge":
            return self._purge(float(command["now_s"]))
        return {"status": "invalid", "message": f"unknown command {op!r}"}

    def _begin(self, txn: str, token: Any, digest: Any, at_s: float) -> dict[str, Any]:
        if self._db.execute("SELECT 1 FROM txn_ledger WHERE txn = ?", (txn,)).fetchone():
            return {"status": "ok"}  # the coordinator's retried call
        if token is not None:
            earlier = self._token_holder(str(token), at_s)
            if earlier is not None:
                other, decision, other_digest, finished_s = earlier
                if other_digest != digest:
                    return {"status": "mismatch"}
                if decision is None:
                    return {"status": "in_progress", "txn": other}
                return {"status": "repeated" if finished_s is not None else "unfinished", "txn": other}
        self._db.execute(
            "INSERT INTO txn_ledger (txn, token, digest, begun_s) VALUES (?, ?, ?, ?)", (txn, token, digest, at_s)
        )
        return {"status": "ok"}

    def _token_holder(self, token: str, at_s: float) -> tuple[str, str | None, str | None, float | None] | None:
        """The undecided or committed transaction holding `token` at `at_s` (a cancelled one frees it)."""
        row = self._db.execute(
            "SELECT txn, decision, digest, finished_s FROM txn_ledger WHERE token = ?"
            " AND (decision IS NULL OR (decision = ? AND decided_s > ?)) ORDER BY begun_s DESC LIMIT 1",
            (token, COMMIT, at_s - TOKEN_WINDOW_S),
        ).fetchone()
        return (row[0], row[1], row[2], row[3]) if row else None

    def _decide(self, txn: str, wanted: str, at_s: float) -> dict[str, Any]:
        if wanted not in (COMMIT, CANCEL):
            return {"status": "invalid", "message": f"unknown decision {wanted!r}"}
        row = self._db.execute("SELECT decision FROM txn_ledger WHERE txn = ?", (txn,)).fetchone()
        if row is not None and row[0] is not None:
            return {"status": "ok", "decision": row[0]}
        if row is None:
            # Unknown here: never registered (a read's lock, a janitor's question) or purged long ago.
            # It can only be cancelled.
            self._db.execute(
                "INSERT INTO txn_ledger (txn, decision, begun_s, decided_s) VALUES (?, ?, ?, ?)",
                (txn, CANCEL, at_s, at_s),
            )
            return {"status": "ok", "decision": CANCEL}
        self._db.execute("UPDATE txn_ledger SET decision = ?, decided_s = ? WHERE txn = ?", (wanted, at_s, txn))
        return {"status": "ok", "decision": wanted}

    def _purge(self, now_s: float) -> dict[str, Any]:
        purged = self._db.execute(
            "DELETE FROM txn_ledger WHERE decided_s < ? AND (decision = ? OR finished_s IS NOT NULL)",
            (now_s - KEEP_DECIDED_S, CANCEL),
        ).rowcount
        purged += self._db.execute("DELETE FROM txn_ledger WHERE begun_s < ?", (now_s - KEEP_UNFINISHED_S,)).rowcount
        return {"status": "ok", "purged": purged}
