"""Concurrent writers that remember exactly which writes the store acknowledged."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError

from tests.cluster.conftest import make_client


@dataclass
class AcknowledgedWrites:
    endpoints: list[str]
    table: str
    writers: int = 6
    acknowledged: dict[str, str] = field(default_factory=dict)
    acknowledged_at: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for number in range(self.writers):
            thread = threading.Thread(target=self._write_loop, args=(number,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _write_loop(self, number: int) -> None:
        client = make_client(self.endpoints[number % len(self.endpoints)], timeout_s=5.0)
        sequence = 0
        while not self._stop.is_set():
            key = f"w{number}-{sequence}"
            value = f"value-{number}-{sequence}"
            sequence += 1
            try:
                client.put_item(TableName=self.table, Item={"pk": {"S": key}, "v": {"S": value}})
            except (ClientError, BotoCoreError) as error:
                with self._lock:
                    self.errors.append(type(error).__name__)
                time.sleep(0.02)
                continue
            with self._lock:
                self.acknowledged[key] = value
                self.acknowledged_at[key] = time.monotonic()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def count(self) -> int:
        with self._lock:
            return len(self.acknowledged)


def missing_acknowledged(endpoint: str, table: str, acknowledged: dict[str, str]) -> list[str]:
    client = make_client(endpoint)
    missing = []
    for key, value in acknowledged.items():
        item = client.get_item(TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
        if item is None or item["v"]["S"] != value:
            missing.append(key)
    return missing
