"""Materialised state of one partition replica: a B-tree (SQLite) of items by (hash, key).

The WAL is the durable source of truth; SQLite may lose its last transactions on power loss
(synchronous=NORMAL), which is harmless because applied_index is stored in the same transaction and
the entries after it are replayed from the WAL on restart.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from cluster.api.index_entries import local_entry_key
from cluster.storage.sqlite_copies import copy_database

# SQLite integers are signed 64-bit; shifting keeps unsigned hash order.
_HASH_OFFSET = 1 << 63


def _to_signed(partition_hash: int) -> int:
    return partition_hash - _HASH_OFFSET


def _to_unsigned(stored: int) -> int:
    return stored + _HASH_OFFSET


CACHE_KIB = 512

# A local secondary index is an order of the items, not a copy of them: an expression index on the entry
# key SQLite computes from each item (local_entry_key, registered on every connection that writes). The
# version tag keeps an index built by an older encoding from ever being read by a newer one.
_LOCAL_INDEX_FUNCTION = "local_entry_v1"


_LOCAL_CODE = re.compile(_LOCAL_INDEX_FUNCTION + r"\(item, key, '([0-9a-f]+)'\)")


def _local_entry_sql(code: str) -> str:
    """The expression a read must repeat word for word for SQLite to use the index (code: hex, no quotes)."""
    assert all(c in "0123456789abcdef" for c in code), "a local index code is hex"
    return f"{_LOCAL_INDEX_FUNCTION}(item, key, '{code}')"


class ItemStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        # A node opens a store per partition it hosts; SQLite's default page cache (2 MB each) filled as
        # partitions grew and was part of a node's growth in issue 15's soaks. Misses hit the OS page cache.
        self._db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        # size: the item's size in DynamoDB's terms, recorded by the write that knew it (NULL: not
        # recorded; a reader sizes the item itself), so a Query can answer without decoding items.
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS items (hash INTEGER NOT NULL, key BLOB NOT NULL, item TEXT NOT NULL,"
            " size INTEGER, PRIMARY KEY (hash, key)) WITHOUT ROWID"
        )
        if "size" not in {column[1] for column in self._db.execute("PRAGMA table_info(items)")}:
            self._db.execute("ALTER TABLE items ADD COLUMN size INTEGER")  # a store made before sizes
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        # Small replicated facts beside the items (a partition's split fences), written in apply transactions.
        self._db.execute("CREATE TABLE IF NOT EXISTS notes (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        # A transaction's prepared item (cluster/node/transaction_participant.py): its txn, what it does
        # (put, update, delete, check, read) and the item it will write (NULL: a delete, check or read).
        # Replicated state like the items; several read locks may share an item, a write lock may not.
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS txn_locks (hash INTEGER NOT NULL, key BLOB NOT NULL, txn TEXT NOT NULL,"
            " kind TEXT NOT NULL, item TEXT, size INTEGER, PRIMARY KEY (hash, key, txn)) WITHOUT ROWID"
        )
        # A base partition's changes to its global secondary indexes, in the order its log made them, until
        # the index partitions have them (cluster/node/index_propagator.py). item NULL: the entry goes.
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS index_outbox (seq INTEGER PRIMARY KEY, index_name TEXT NOT NULL,"
            " hash INTEGER NOT NULL, key BLOB NOT NULL, item TEXT, size INTEGER)"
        )
        row = self._db.execute("SELECT value FROM meta WHERE name = 'applied_index'").fetchone()
        self._applied_index = int(row[0]) if row else 0
        self._count_locks()
        self._db.create_function(_LOCAL_INDEX_FUNCTION, 3, local_entry_key, deterministic=True)
        self._local_indexes: set[str] = set()
        self._keeps_collections = self._has_collection_sizes()

    def ensure_local_index(self, code: str) -> None:
        """Keeps the entry keys of a local secondary index (`code`: local_index_code) in an index of their
        own. Called inside an apply transaction by a write to a table with LSIs, so every replica builds it
        alike, while its partition is still small. A read without it is as right, only slower."""
        if code in self._local_indexes:
            return
        expression = _local_entry_sql(code)
        name = "local_index_" + hashlib.blake2b(code.encode(), digest_size=8).hexdigest()
        self._db.execute(f"CREATE INDEX IF NOT EXISTS {name} ON items (hash, {expression}) WHERE {expression} IS NOT NULL")
        self._keep_collection_sizes()
        self._local_indexes.add(code)

    # ---- item collections (a table with LSIs limits and reports each partition key's bytes) -----

    def _has_collection_sizes(self) -> bool:
        return self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'collection_sizes'").fetchone() is not None

    def _keep_collection_sizes(self) -> None:
        """Each item collection's bytes (by the partition key's hash), kept by triggers on every change of
        the items, whichever write makes it (a put, a batch, a transaction's commit, a TTL delete, a split's
        move): a write learns its collection's size without summing the collection."""
        if self._keeps_collections:
            return
        self._db.execute("CREATE TABLE collection_sizes (hash INTEGER PRIMARY KEY, bytes INTEGER NOT NULL)")
        self._db.execute(
            "INSERT INTO collection_sizes (hash, bytes) SELECT hash, SUM(COALESCE(size, 0)) FROM items GROUP BY hash"
        )
        self._db.execute(
            "CREATE TRIGGER collection_insert AFTER INSERT ON items BEGIN"
            " INSERT INTO collection_sizes (hash, bytes) VALUES (new.hash, COALESCE(new.size, 0))"
            " ON CONFLICT(hash) DO UPDATE SET bytes = bytes + excluded.bytes; END"
        )
        self._db.execute(
            "CREATE TRIGGER collection_update AFTER UPDATE ON items BEGIN"
            " UPDATE collection_sizes SET bytes = bytes - COALESCE(old.size, 0) WHERE hash = old.hash;"
            " INSERT INTO collection_sizes (hash, bytes) VALUES (new.hash, COALESCE(new.size, 0))"
            " ON CONFLICT(hash) DO UPDATE SET bytes = bytes + excluded.bytes; END"
        )
        self._db.execute(
            "CREATE TRIGGER collection_delete AFTER DELETE ON items BEGIN"
            " UPDATE collection_sizes SET bytes = bytes - COALESCE(old.size, 0) WHERE hash = old.hash; END"
        )
        self._keeps_collections = True

    @property
    def keeps_collection_sizes(self) -> bool:
        return self._keeps_collections

    def collection_bytes(self, partition_hash: int) -> int | None:
        """The bytes of the items under one partition key (items from before sizes were recorded count 0),
        or None when this store keeps no collection sizes (its table has no LSI)."""
        if not self._keeps_collections:
            return None
        row = self._db.execute("SELECT bytes FROM collection_sizes WHERE hash = ?", (_to_signed(partition_hash),)).fetchone()
        return int(row[0]) if row else 0

    @property
    def applied_index(self) -> int:
        return self._applied_index

    @contextmanager
    def transaction(self, applied_index: int) -> Iterator[None]:
        """Everything inside lands atomically together with the new applied index."""
        if applied_index < self._applied_index:
            raise AssertionError(f"applied index would go back from {self._applied_index} to {applied_index}")
        self._db.execute("BEGIN")
        try:
            yield
            self._db.execute(
                "INSERT INTO meta (name, value) VALUES ('applied_index', ?)"
                " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (applied_index,),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._count_locks()  # the counts may be ahead of the rolled-back rows
            self._local_indexes.clear()  # an index made inside it is gone too, and so may the sizes be
            self._keeps_collections = self._has_collection_sizes()
            raise
        self._applied_index = applied_index

    def get(self, partition_hash: int, key: bytes) -> str | None:
        row = self._db.execute(
            "SELECT item FROM items WHERE hash = ? AND key = ?", (_to_signed(partition_hash), key)
        ).fetchone()
        return row[0] if row else None

    def get_sized(self, partition_hash: int, key: bytes) -> tuple[str, int | None] | None:
        """The item's JSON and its recorded size (None: not recorded), or None when absent."""
        row = self._db.execute(
            "SELECT item, size FROM items WHERE hash = ? AND key = ?", (_to_signed(partition_hash), key)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def put(self, partition_hash: int, key: bytes, item_json: str, size: int | None = None) -> None:
        self._db.execute(
            "INSERT INTO items (hash, key, item, size) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(hash, key) DO UPDATE SET item = excluded.item, size = excluded.size",
            (_to_signed(partition_hash), key, item_json, size),
        )

    def delete(self, partition_hash: int, key: bytes) -> None:
        self._db.execute("DELETE FROM items WHERE hash = ? AND key = ?", (_to_signed(partition_hash), key))

    def scan(self, after: tuple[int, bytes] | None, limit: int) -> list[tuple[int, bytes, str]]:
        """Items in (hash, key) order strictly after `after`, at most `limit` of them."""
        if after is None:
            rows = self._db.execute("SELECT hash, key, item FROM items ORDER BY hash, key LIMIT ?", (limit,))
        else:
            rows = self._db.execute(
                "SELECT hash, key, item FROM items WHERE (hash, key) > (?, ?) ORDER BY hash, key LIMIT ?",
                (_to_signed(after[0]), after[1], limit),
            )
        return [(_to_unsigned(h), bytes(k), item) for h, k, item in rows]

    def query(
        self,
        partition_hash: int,
        prefix: bytes,
        lower: tuple[bytes, bool] | None,
        upper: tuple[bytes, bool] | None,
        after: bytes | None,
        forward: bool,
        limit: int,
        local: str | None = None,
    ) -> list[tuple[bytes, str, int | None]]:
        """Items of one partition key: keys starting with `prefix`, within the (key, inclusive)
        bounds, strictly beyond `after` in the reading direction, in key order (or reversed); each
        as (key, item JSON, recorded size or None). With `local` (a local secondary index's code), "key"
        is the item's entry key in that index, and items the index leaves out are skipped."""
        column = "key" if local is None else _local_entry_sql(local)
        # The prefix as a range too, so that SQLite seeks to it rather than filtering the partition key's items.
        where = ["hash = ?", f"substr({column}, 1, ?) = ?", f"{column} >= ?"]
        parameters: list[object] = [_to_signed(partition_hash), len(prefix), prefix, prefix]
        prefix_end = _past_prefix(prefix)
        if prefix_end is not None:
            where.append(f"{column} < ?")
            parameters.append(prefix_end)
        if local is not None:
            where.append(f"{column} IS NOT NULL")  # the local index's own condition, word for word
        if lower is not None:
            where.append(f"{column} >= ?" if lower[1] else f"{column} > ?")
            parameters.append(lower[0])
        if upper is not None:
            where.append(f"{column} <= ?" if upper[1] else f"{column} < ?")
            parameters.append(upper[0])
        if after is not None:
            where.append(f"{column} > ?" if forward else f"{column} < ?")
            parameters.append(after)
        order = "ASC" if forward else "DESC"
        rows = self._db.execute(
            f"SELECT {column}, item, size FROM items WHERE {' AND '.join(where)} ORDER BY {column} {order} LIMIT ?",
            (*parameters, limit),
        )
        return [(bytes(k), item, size) for k, item, size in rows]

    # ---- transaction locks ----------------------------------------------------------------------

    def _count_locks(self) -> None:
        # Most stores hold no lock at all: every write checks this count before it queries.
        self.lock_count = int(self._db.execute("SELECT COUNT(*) FROM txn_locks").fetchone()[0])
        self.outbox_count = int(self._db.execute("SELECT COUNT(*) FROM index_outbox").fetchone()[0])

    def locks_on(self, partition_hash: int, key: bytes) -> list[tuple[str, str]]:
        """(txn, kind) of every lock on one item."""
        if not self.lock_count:
            return []
        rows = self._db.execute(
            "SELECT txn, kind FROM txn_locks WHERE hash = ? AND key = ? ORDER BY txn", (_to_signed(partition_hash), key)
        )
        return [(txn, kind) for txn, kind in rows]

    def lock_of(self, partition_hash: int, key: bytes, txn: str) -> tuple[str, str | None, int | None] | None:
        """(kind, item JSON, size) of one transaction's lock on an item, or None."""
        if not self.lock_count:
            return None
        row = self._db.execute(
            "SELECT kind, item, size FROM txn_locks WHERE hash = ? AND key = ? AND txn = ?",
            (_to_signed(partition_hash), key, txn),
        ).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def add_lock(
        self, partition_hash: int, key: bytes, txn: str, kind: str, item_json: str | None, size: int | None
    ) -> None:
        self._db.execute(
            "INSERT INTO txn_locks (hash, key, txn, kind, item, size) VALUES (?, ?, ?, ?, ?, ?)",
            (_to_signed(partition_hash), key, txn, kind, item_json, size),
        )
        self.lock_count += 1

    def remove_lock(self, partition_hash: int, key: bytes, txn: str) -> bool:
        removed = self._db.execute(
            "DELETE FROM txn_locks WHERE hash = ? AND key = ? AND txn = ?", (_to_signed(partition_hash), key, txn)
        ).rowcount
        self.lock_count -= removed
        return removed > 0

    def all_locks(self) -> list[tuple[int, bytes, str, str]]:
        """(hash, key, txn, kind) of every lock, for the janitor that resolves abandoned ones."""
        if not self.lock_count:
            return []
        rows = self._db.execute("SELECT hash, key, txn, kind FROM txn_locks ORDER BY hash, key, txn")
        return [(_to_unsigned(h), bytes(k), txn, kind) for h, k, txn, kind in rows]

    def locks_in_range(self, hash_start: int, hash_end: int) -> int:
        if not self.lock_count:
            return 0
        where, parameters = _inside(hash_start, hash_end)
        return int(self._db.execute(f"SELECT COUNT(*) FROM txn_locks WHERE {' AND '.join(where)}", parameters).fetchone()[0])

    # ---- index outbox ---------------------------------------------------------------------------

    def outbox_add(self, seq: int, index_name: str, partition_hash: int, key: bytes, item_json: str | None,
                   size: int | None) -> None:
        self._db.execute(
            "INSERT INTO index_outbox (seq, index_name, hash, key, item, size) VALUES (?, ?, ?, ?, ?, ?)",
            (seq, index_name, _to_signed(partition_hash), key, item_json, size),
        )
        self.outbox_count += 1

    def outbox_read(self, limit: int) -> list[tuple[int, str, int, bytes, str | None, int | None]]:
        """The oldest `limit` changes: (seq, index, hash, key, item JSON or None, size)."""
        if not self.outbox_count:
            return []
        rows = self._db.execute(
            "SELECT seq, index_name, hash, key, item, size FROM index_outbox ORDER BY seq LIMIT ?", (limit,)
        )
        return [(seq, name, _to_unsigned(h), bytes(k), item, size) for seq, name, h, k, item, size in rows]

    def outbox_trim(self, through_seq: int) -> int:
        removed = self._db.execute("DELETE FROM index_outbox WHERE seq <= ?", (through_seq,)).rowcount
        self.outbox_count -= removed
        return int(removed)

    def get_note(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM notes WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def set_note(self, name: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO notes (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def delete_note(self, name: str) -> None:
        self._db.execute("DELETE FROM notes WHERE name = ?", (name,))

    def scan_excluding(
        self,
        after: tuple[int, bytes] | None,
        limit: int,
        excluded: list[tuple[int, int]],
        local: str | None = None,
    ) -> list[tuple[int, bytes, str]]:
        """Like scan, without items whose hash lies in one of the [start, end) ranges (moved by a split).
        With `local` (a local secondary index's code): in (hash, entry key) order, each with its entry key,
        the items the index leaves out skipped."""
        if local is not None:
            return self._scan_local(after, limit, excluded, _local_entry_sql(local))
        where, parameters = _outside(excluded)
        if after is not None:
            where.append("(hash, key) > (?, ?)")
            parameters.extend([_to_signed(after[0]), after[1]])
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        rows = self._db.execute(
            f"SELECT hash, key, item FROM items {clause}ORDER BY hash, key LIMIT ?", (*parameters, limit)
        )
        return [(_to_unsigned(h), bytes(k), item) for h, k, item in rows]

    def _scan_local(
        self, after: tuple[int, bytes] | None, limit: int, excluded: list[tuple[int, int]], column: str
    ) -> list[tuple[int, bytes, str]]:
        # The rest of `after`'s hash, then the hashes above it: two range searches of the local index, where
        # one (hash, entry) > (?, ?) comparison made SQLite walk the index from the hash's first entry.
        rows: list[tuple[int, bytes, str]] = []
        where, parameters = _outside(excluded)
        where.append(f"{column} IS NOT NULL")
        if after is not None:
            same_hash = [*where, "hash = ?", f"{column} > ?"]
            rows += self._db.execute(
                f"SELECT hash, {column}, item FROM items WHERE {' AND '.join(same_hash)} ORDER BY {column} LIMIT ?",
                (*parameters, _to_signed(after[0]), after[1], limit),
            )  # fmt: skip
            where.append("hash > ?")
            parameters.append(_to_signed(after[0]))
        if len(rows) < limit:
            rows += self._db.execute(
                f"SELECT hash, {column}, item FROM items WHERE {' AND '.join(where)} ORDER BY hash, {column} LIMIT ?",
                (*parameters, limit - len(rows)),
            )  # fmt: skip
        return [(_to_unsigned(h), bytes(k), item) for h, k, item in rows]

    def scan_range(
        self, hash_start: int, hash_end: int, after: tuple[int, bytes] | None, limit: int
    ) -> list[tuple[int, bytes, str]]:
        """Items with hash_start <= hash < hash_end, in (hash, key) order strictly after `after`."""
        where, parameters = _inside(hash_start, hash_end)
        if after is not None:
            where.append("(hash, key) > (?, ?)")
            parameters.extend([_to_signed(after[0]), after[1]])
        rows = self._db.execute(
            f"SELECT hash, key, item FROM items WHERE {' AND '.join(where)} ORDER BY hash, key LIMIT ?",
            (*parameters, limit),
        )
        return [(_to_unsigned(h), bytes(k), item) for h, k, item in rows]

    def delete_range(self, hash_start: int, hash_end: int) -> int:
        where, parameters = _inside(hash_start, hash_end)
        return self._db.execute(f"DELETE FROM items WHERE {' AND '.join(where)}", parameters).rowcount

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    def stats_excluding(self, excluded: list[tuple[int, int]]) -> tuple[int, int]:
        """(items, bytes) outside the [start, end) ranges (moved by a split); bytes as the writes recorded
        them (an item from before sizes were recorded counts 0 until it is written again).

        A count reads every item: it opens its own read-only connection, so that a thread can count while
        the store applies writes (WAL mode) and a big partition never stalls the caller's event loop."""
        where, parameters = _outside(excluded)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as reader:
            count, size = reader.execute(f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM items{clause}", parameters).fetchone()
        return int(count), int(size)

    def local_index_stats(self, excluded: list[tuple[int, int]]) -> dict[str, tuple[int, int]]:
        """(items, bytes) each local secondary index this store keeps holds (by its code), outside the
        [start, end) ranges (moved by a split): the items it orders, at their whole size. Read like
        stats_excluding, from a connection of its own."""
        if not self._keeps_collections:
            return {}  # a store keeps collection sizes from its first local index on: none here
        where, parameters = _outside(excluded)
        counted: dict[str, tuple[int, int]] = {}
        with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as reader:
            reader.create_function(_LOCAL_INDEX_FUNCTION, 3, local_entry_key, deterministic=True)
            indexes = reader.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name LIKE 'local_index_%'")
            for code in sorted({match.group(1) for (sql,) in indexes for match in [_LOCAL_CODE.search(sql or "")] if match}):
                clause = " AND ".join([*where, f"{_local_entry_sql(code)} IS NOT NULL"])
                count, size = reader.execute(f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM items WHERE {clause}",
                                             parameters).fetchone()  # fmt: skip
                counted[code] = (int(count), int(size))
        return counted

    def copy_to(self, destination: Path) -> int:
        """A consistent copy of the store in `destination` (not yet fsynced), taken beside apply (from
        another thread); returns the applied index it holds."""
        return copy_database(self.path, destination)

    def close(self) -> None:
        self._db.close()


def _past_prefix(prefix: bytes) -> bytes | None:
    """The least bytes above every string that starts with `prefix` (None: there is none)."""
    stripped = prefix.rstrip(b"\xff")
    return stripped[:-1] + bytes([stripped[-1] + 1]) if stripped else None


def _inside(hash_start: int, hash_end: int) -> tuple[list[str], list[int]]:
    # hash_end may be 2**64 (the end of the hash space), which no SQLite integer holds: leave it open.
    where, parameters = ["hash >= ?"], [_to_signed(hash_start)]
    if hash_end <= _HASH_OFFSET * 2 - 1:
        where.append("hash < ?")
        parameters.append(_to_signed(hash_end))
    return where, parameters


def _outside(ranges: list[tuple[int, int]]) -> tuple[list[str], list[int]]:
    where: list[str] = []
    parameters: list[int] = []
    for hash_start, hash_end in ranges:
        inside, inside_parameters = _inside(hash_start, hash_end)
        where.append(f"NOT ({' AND '.join(inside)})")
        parameters.extend(inside_parameters)
    return where, parameters
