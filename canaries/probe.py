"""One probe of one endpoint: write a fresh value, read it back consistently and eventually.

Each step is recorded as it completes, one dict per step (the ``canaries.jsonl`` line):
``time_s`` (monotonic, when the step started), ``wall_time_s``, ``canary_az``,
``endpoint_az``, ``endpoint``, ``operation``, ``outcome``, ``error_class``, ``latency_ms``,
``key`` and ``sequence`` (the key probed and the sequence number written to it), and for reads
``read_sequence`` (the sequence the answer held; null when absent, malformed or failed): the
evidence a data alarm shows. A cross read (``canaries.cross_read``) adds ``written_endpoint_az``,
``written_endpoint`` and ``write_acknowledged_s``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from canaries.outcomes import (
    SEQUENCE_ATTRIBUTE,
    Operation,
    Outcome,
    classify_exception,
    classify_read,
    item_sequence,
)
from loadgen.dynamodb_client import ClientSettings, make_client

Record = Callable[[dict[str, Any]], None]
Clock = Callable[[], float]
Item = Mapping[str, Any] | None

HASH_KEY_ATTRIBUTE = "pk"


@dataclass(frozen=True)
class ProbeTarget:
    """Who probes what: the canary's AZ, the endpoint's AZ and URL, and the table."""

    canary_az: str
    endpoint_az: str
    endpoint_url: str
    table: str


@dataclass(frozen=True)
class WrittenProbe:
    """An acknowledged canary write: a consistent read of ``key`` through any endpoint must now see
    ``sequence`` (the key is written again only a whole ring of probes later)."""

    key: str
    sequence: int
    endpoint_az: str
    endpoint_url: str
    acknowledged_s: float  # monotonic, when the write's answer arrived


def read_sequence_or_none(item: Item) -> int | None:
    """The sequence an answer held, for the record; None when absent or malformed (the outcome tells which)."""
    try:
        return item_sequence(item)
    except ValueError:
        return None


def run_step(
    target: ProbeTarget,
    operation: Operation,
    request: Callable[[], Item],
    judge: Callable[[Item], Outcome],
    record: Record,
    clock: Clock,
    wall_clock: Clock,
    fields: Mapping[str, Any],
) -> Outcome:
    """Time one request, classify what it answered, record the step (with ``fields``). Never raises for a
    failed request: any failure, even an unexpected one, is what the customer saw."""
    wall_time_s = wall_clock()
    started_s = clock()
    error_class: str | None = None
    answer: Item = None
    try:
        answer = request()
    except Exception as error:  # noqa: BLE001
        latency_s = clock() - started_s
        outcome: Outcome = "error"
        error_class = classify_exception(error)
    else:
        latency_s = clock() - started_s
        outcome = judge(answer)
    step = {
        **fields,
        "time_s": started_s,
        "wall_time_s": wall_time_s,
        "canary_az": target.canary_az,
        "endpoint_az": target.endpoint_az,
        "endpoint": target.endpoint_url,
        "operation": operation,
        "outcome": outcome,
        "error_class": error_class,
        "latency_ms": latency_s * 1000.0,
    }
    if operation != "write":
        step["read_sequence"] = read_sequence_or_none(answer)
    record(step)
    return outcome


def make_dynamodb_client(endpoint_url: str, timeout_s: float, region: str = "us-east-1") -> Any:
    """A DynamoDB client that reports a customer's first attempt: no retries, short timeouts.

    Each call gets its own session because boto3 sessions are not thread-safe. A pooled keep-alive
    connection is what a long-lived customer client uses too.
    """
    return make_client(
        ClientSettings(endpoint_url, connect_timeout_s=timeout_s, read_timeout_s=timeout_s, max_connections=2, region=region)
    )


class EndpointProber:
    """Probes one endpoint from one canary. Not thread-safe: one prober per thread.

    Keys cycle through a bounded ring (``key_count`` keys per canary, endpoint and run),
    so a long game day does not grow the table without bound; the sequence number in the
    value tells an answer from the current probe from one left by an earlier lap.
    """

    def __init__(
        self,
        target: ProbeTarget,
        client: Any,
        record: Record,
        clock: Clock,
        wall_clock: Clock,
        run_id: str,
        key_count: int = 1024,
        on_write_acknowledged: Callable[[WrittenProbe], None] | None = None,
    ) -> None:
        """``on_write_acknowledged`` hears of every acknowledged write (the cross reads of the canary's own
        AZ's endpoint); it must not block: this thread's probe rate depends on it."""
        assert key_count > 0, key_count
        self._target = target
        self._client = client
        self._record = record
        self._clock = clock
        self._wall_clock = wall_clock
        self._run_id = run_id
        self._key_count = key_count
        self._on_write_acknowledged = on_write_acknowledged
        self._sequence = 0

    @property
    def probes_done(self) -> int:
        return self._sequence

    def key_for(self, sequence: int) -> str:
        target = self._target
        return f"canary#{target.canary_az}#{target.endpoint_az}#{self._run_id}#{sequence % self._key_count}"

    def probe_once(self) -> None:
        """Write, then read back twice; record each step. Never raises for a failed request."""
        self._sequence += 1
        sequence = self._sequence
        key_name = self.key_for(sequence)
        key = {HASH_KEY_ATTRIBUTE: {"S": key_name}}
        table = self._target.table
        fields = {"key": key_name, "sequence": sequence}

        def write() -> Item:
            self._client.put_item(TableName=table, Item={**key, SEQUENCE_ATTRIBUTE: {"N": str(sequence)}})
            return None

        write_ok = self._step("write", write, lambda _: "ok", fields) == "ok"
        if write_ok and self._on_write_acknowledged is not None:
            target = self._target
            self._on_write_acknowledged(
                WrittenProbe(key_name, sequence, target.endpoint_az, target.endpoint_url, self._clock())
            )
        # A failed write may or may not have happened: the reads then only measure availability.
        written_sequence = sequence if write_ok else None
        for operation, consistent in (("consistent_read", True), ("eventual_read", False)):
            self._step(
                operation,
                lambda consistent=consistent: self._client.get_item(
                    TableName=table, Key=key, ConsistentRead=consistent
                ).get("Item"),
                lambda item, operation=operation: classify_read(operation, written_sequence, item),
                fields,
            )

    def _step(
        self,
        operation: Operation,
        request: Callable[[], Item],
        judge: Callable[[Item], Outcome],
        fields: Mapping[str, Any],
    ) -> Outcome:
        return run_step(self._target, operation, request, judge, self._record, self._clock, self._wall_clock, fields)
