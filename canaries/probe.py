"""One probe of one endpoint: write a fresh value, read it back consistently and eventually.

Each step is recorded as it completes, one dict per step (the ``canaries.jsonl`` line):
``time_s`` (monotonic, when the step started), ``wall_time_s``, ``canary_az``,
``endpoint_az``, ``endpoint``, ``operation``, ``outcome``, ``error_class``, ``latency_ms``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from canaries.outcomes import SEQUENCE_ATTRIBUTE, Operation, Outcome, classify_exception, classify_read
from loadgen.dynamodb_client import ClientSettings, make_client

Record = Callable[[dict[str, Any]], None]
Clock = Callable[[], float]

HASH_KEY_ATTRIBUTE = "pk"


@dataclass(frozen=True)
class ProbeTarget:
    """Who probes what: the canary's AZ, the endpoint's AZ and URL, and the table."""

    canary_az: str
    endpoint_az: str
    endpoint_url: str
    table: str


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
    ) -> None:
        assert key_count > 0, key_count
        self._target = target
        self._client = client
        self._record = record
        self._clock = clock
        self._wall_clock = wall_clock
        self._run_id = run_id
        self._key_count = key_count
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
        key = {HASH_KEY_ATTRIBUTE: {"S": self.key_for(sequence)}}
        table = self._target.table

        def write() -> Mapping[str, Any] | None:
            self._client.put_item(TableName=table, Item={**key, SEQUENCE_ATTRIBUTE: {"N": str(sequence)}})
            return None

        write_ok = self._step("write", write, lambda _: "ok")
        # A failed write may or may not have happened: the reads then only measure availability.
        written_sequence = sequence if write_ok else None
        for operation, consistent in (("consistent_read", True), ("eventual_read", False)):
            self._step(
                operation,
                lambda consistent=consistent: self._client.get_item(
                    TableName=table, Key=key, ConsistentRead=consistent
                ).get("Item"),
                lambda item, operation=operation: classify_read(operation, written_sequence, item),
            )

    def _step(
        self,
        operation: Operation,
        request: Callable[[], Mapping[str, Any] | None],
        judge: Callable[[Mapping[str, Any] | None], Outcome],
    ) -> bool:
        wall_time_s = self._wall_clock()
        started_s = self._clock()
        error_class: str | None = None
        try:
            answer = request()
        # Any failure, even an unexpected one, is what the customer saw; the canary must keep probing.
        except Exception as error:  # noqa: BLE001
            latency_s = self._clock() - started_s
            outcome: Outcome = "error"
            error_class = classify_exception(error)
        else:
            latency_s = self._clock() - started_s
            outcome = judge(answer)
        target = self._target
        self._record(
            {
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
        )
        return outcome == "ok"
