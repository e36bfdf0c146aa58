"""The hot-key workload: cold users on keys spread over the table, hot users hammering one partition.

DynamoDB paper §4 (admission control, split for consumption): a few keys of one partition take far more
than their share. Without admission control that load takes the nodes' capacity from everyone; with it,
the hot partition is throttled (ProvisionedThroughputExceededException) and split, and the other keys'
latency stays where it was. Two kinds of users, both recorded in the history (it must stay linearizable):

- cold users: the register workload (read / write / cas) on keys whose hash lies OUTSIDE the hot partition;
- hot users: idle until `hot_start_s`, then for `hot_duration_s` unconditional writes, conditional writes
  and consistent reads on `hot_keys` keys that all hash into the table's first initial partition (the
  worst case for a per-partition limit; two or more keys so a split can separate them), with no think
  time, backing off exponentially on a throttle like an AWS SDK does.

Pure: keys, planning and back-off take their randomness and time from the caller.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from cluster.api.attribute_values import KeySchema, partition_hash
from cluster.metadata.catalogue import HASH_SPACE
from loadgen.dynamodb_client import PARTITION_KEY
from loadgen.operations import UniqueValues
from loadgen.register_workload import RegisterWeights, RegisterWorkload

THROTTLE_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
HOT_KEY_PREFIX = "hot-"
COLD_KEY_PREFIX = "r"
HOT_PARTITION_INDEX = 0
# botocore's legacy retry policy for DynamoDB (data/_retry.json): base 50 ms, doubling. (Its standard mode
# waits rand(0, 1) x min(1 s x 2^attempt, 20 s) after a throttle: far gentler on the store.) We cap at 1 s
# so a throttled user comes back within a second, as a latency-sensitive client would be configured.
BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 1.0
# Event names in the history (process "workload"): when the hot users start and stop hammering.
HOT_PHASE_START = "hot-phase-start"
HOT_PHASE_END = "hot-phase-end"
_SCHEMA = KeySchema(PARTITION_KEY, "S")
_SEARCH_LIMIT = 1_000_000  # keys tried before giving up: with P partitions a key lands in one with chance 1/P


def key_hash(key: str) -> int:
    """The store's 64-bit partition hash of a string partition key (same in every process)."""
    return partition_hash({PARTITION_KEY: {"S": key}}, _SCHEMA)


def initial_partition(key: str, partitions_per_table: int) -> int:
    """Index of the table's initial partition holding `key` (ranges split HASH_SPACE evenly, as the
    catalogue creates them)."""
    return key_hash(key) * partitions_per_table // HASH_SPACE


def _find_keys(prefix: str, count: int, wanted: Callable[[str], bool]) -> list[str]:
    found: list[str] = []
    for number in range(_SEARCH_LIMIT):
        key = f"{prefix}{number}"
        if wanted(key):
            found.append(key)
            if len(found) == count:
                return found
    raise ValueError(f"found only {len(found)} of {count} keys {prefix}N in {_SEARCH_LIMIT} tries")


def hot_keys(count: int, partitions_per_table: int) -> list[str]:
    """`count` keys `hot-N` that all hash into the first initial partition."""
    if count < 1:
        raise ValueError(f"hot_keys must be >= 1, got {count}")
    return _find_keys(
        HOT_KEY_PREFIX, count, lambda key: initial_partition(key, partitions_per_table) == HOT_PARTITION_INDEX
    )


def cold_keys(count: int, partitions_per_table: int) -> list[str]:
    """`count` register keys `rN` outside the hot partition (all keys when the table has one partition)."""
    if partitions_per_table == 1:
        return [f"{COLD_KEY_PREFIX}{number}" for number in range(count)]
    return _find_keys(
        COLD_KEY_PREFIX, count, lambda key: initial_partition(key, partitions_per_table) != HOT_PARTITION_INDEX
    )


class ColdWorkload(RegisterWorkload):
    """The register workload on explicitly chosen keys (those outside the hot partition)."""

    def __init__(self, keys: list[str], weights: RegisterWeights, values: UniqueValues, rng: random.Random) -> None:
        super().__init__(len(keys), weights, values, rng)
        self._keys = list(keys)  # RegisterWorkload plans over self._keys; only the names differ


@dataclass(frozen=True)
class HotKeySettings:
    hot_keys: int = 4
    hot_clients: int = 8
    hot_start_s: float = 20.0
    hot_duration_s: float = 30.0

    def __post_init__(self) -> None:
        if self.hot_keys < 1 or self.hot_clients < 0:
            raise ValueError(f"need hot_keys >= 1 and hot_clients >= 0, got {self.hot_keys}, {self.hot_clients}")
        if self.hot_start_s < 0 or self.hot_duration_s <= 0:
            raise ValueError(f"need hot_start_s >= 0 and hot_duration_s > 0, got {self.hot_start_s}, {self.hot_duration_s}")

    @property
    def hot_end_s(self) -> float:
        return self.hot_start_s + self.hot_duration_s


class HotWorkload(RegisterWorkload):
    """Writes, conditional writes and consistent reads on the hot keys (same vocabulary as registers)."""

    def __init__(self, keys: list[str], values: UniqueValues, rng: random.Random) -> None:
        # Writes weigh most: a write costs a partition a write unit and a replication round.
        super().__init__(len(keys), RegisterWeights(read=1.0, write=2.0, cas=1.0), values, rng)
        self._keys = list(keys)


def is_hot_user(user_number: int, cold_clients: int, hot_clients: int) -> bool:
    """Whether the `user_number`-th user started in a load process is a hot one.

    Hot users are spread evenly over the sequence (as Bresenham spreads a line's steps), so a process
    running all `cold_clients + hot_clients` users gets exactly `hot_clients` hot ones and a Locust
    worker running a share of them gets about its share.
    """
    total = cold_clients + hot_clients
    if total == 0:
        return False
    position = user_number % total
    return (position + 1) * hot_clients // total > position * hot_clients // total


class Backoff:
    """Exponential back-off with full jitter (AWS SDKs' retry strategy) after a throttle; reset on success."""

    def __init__(self, rng: random.Random, base_s: float = BACKOFF_BASE_S, cap_s: float = BACKOFF_CAP_S) -> None:
        self._rng = rng
        self.base_s = base_s
        self.cap_s = cap_s
        self.attempts = 0

    def after_throttle(self) -> float:
        """Seconds to wait before the next request."""
        ceiling_s = min(self.cap_s, self.base_s * (2**self.attempts))
        self.attempts = min(self.attempts + 1, 30)  # bounded: 2**30 x base is far past any cap
        return self._rng.uniform(0.0, ceiling_s)

    def after_success(self) -> None:
        self.attempts = 0


# The hot users' load process numbers its history processes and values from this block on (ProcessNumbers).
HOT_PROCESS_BLOCK = 500


def locust_arguments(settings: HotKeySettings, cold_clients: int, partitions_per_table: int, role: str) -> list[str]:
    """The locustfile options of one load process of this workload (`start_load(workload_arguments=...)`).

    `role` "cold": only the cold users; "hot": only the hot users, in their own block of process numbers;
    "both": all in one process. Separate processes keep the cold users' latency a measure of the store:
    in one Locust process, busy hot users delay the cold ones' greenlets on the client's own CPU.
    """
    if role not in ("cold", "hot", "both"):
        raise ValueError(f"role must be cold, hot or both, got {role!r}")
    return [
        "--cold-clients", str(0 if role == "hot" else cold_clients),
        "--hot-clients", str(0 if role == "cold" else settings.hot_clients),
        "--hot-keys", str(settings.hot_keys), "--hot-start-s", f"{settings.hot_start_s:g}",
        "--hot-duration-s", f"{settings.hot_duration_s:g}", "--partitions-per-table", str(partitions_per_table),
        "--process-block", str(HOT_PROCESS_BLOCK if role == "hot" else 0),
    ]  # fmt: skip
