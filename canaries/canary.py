"""One canary per AZ: probes every endpoint at a fixed rate, one thread per endpoint.

A thread per endpoint is what keeps a dead endpoint's timeouts from delaying the probes
of the healthy ones: each thread only ever waits on its own endpoint. With ``cross_reads``,
every write acknowledged by the canary's own AZ's endpoint is also read back consistently
through each other endpoint (canaries/cross_read.py), by one more thread per other endpoint.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from canaries.cross_read import CrossReader
from canaries.probe import Clock, EndpointProber, ProbeTarget, Record, WrittenProbe, make_dynamodb_client

ClientFactory = Callable[[str, float], Any]


class Canary:
    """Probes each endpoint in ``endpoints`` (endpoint AZ → URL as reachable from ``az``).

    ``record`` is called from several threads at once and must be thread-safe.
    ``timeout_s`` bounds each request (connect and read), so one probe of a dead endpoint
    takes at most about ``3 * timeout_s``; that endpoint then skips the slots it missed
    rather than bursting to catch up.

    ``cross_reads``: the endpoint of the canary's own AZ (``endpoints[az]``) hands each acknowledged
    write to a cross reader per other endpoint. Off without an own-AZ endpoint or another endpoint, and
    off by default: endpoints that share no data (one emulator per AZ) would all answer "absent".
    """

    def __init__(
        self,
        az: str,
        endpoints: dict[str, str],
        table: str,
        interval_s: float,
        record: Record,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        *,
        timeout_s: float = 1.0,
        key_count: int = 1024,
        run_id: str | None = None,
        client_factory: ClientFactory = make_dynamodb_client,
        cross_reads: bool = False,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        if not endpoints:
            raise ValueError("a canary needs at least one endpoint")
        self.az = az
        self.interval_s = interval_s
        self._clock = clock
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._timeout_s = timeout_s
        run = run_id or uuid.uuid4().hex[:12]
        self.cross_readers: list[CrossReader] = []
        if cross_reads and az in endpoints:
            self.cross_readers = [
                CrossReader(ProbeTarget(az, endpoint_az, url, table), client_factory(url, timeout_s), record, clock, wall_clock)
                for endpoint_az, url in sorted(endpoints.items())
                if endpoint_az != az
            ]
        self._probers = {
            endpoint_az: EndpointProber(
                ProbeTarget(az, endpoint_az, url, table),
                client_factory(url, timeout_s),
                record,
                clock,
                wall_clock,
                run,
                key_count,
                on_write_acknowledged=self._hand_to_cross_readers if endpoint_az == az and self.cross_readers else None,
            )
            for endpoint_az, url in sorted(endpoints.items())
        }

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def probes_done(self) -> dict[str, int]:
        """Probes started so far, by endpoint AZ."""
        return {endpoint_az: prober.probes_done for endpoint_az, prober in self._probers.items()}

    def cross_reads_done(self) -> dict[str, int]:
        """Cross reads made so far, by the endpoint AZ read through."""
        return {reader.endpoint_az: reader.reads_done for reader in self.cross_readers}

    def start(self) -> None:
        if self._threads:
            raise RuntimeError(f"canary {self.az} already started")
        for reader in self.cross_readers:
            thread = threading.Thread(
                target=reader.run, args=(self._stop,), name=f"canary-{self.az}-cross-read-{reader.endpoint_az}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        for endpoint_az, prober in self._probers.items():
            # Daemon: a request stuck past its timeout must not keep the process alive at exit.
            thread = threading.Thread(
                target=self._probe_forever,
                args=(prober,),
                name=f"canary-{self.az}-to-{endpoint_az}",
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        """Stop probing; waits for in-flight probes, which are bounded by the request timeouts."""
        self._stop.set()
        join_timeout_s = 3 * self._timeout_s + self.interval_s + 1.0
        for thread in self._threads:
            thread.join(join_timeout_s)

    def __enter__(self) -> Canary:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _hand_to_cross_readers(self, written: WrittenProbe) -> None:
        for reader in self.cross_readers:
            reader.offer(written)

    def _probe_forever(self, prober: EndpointProber) -> None:
        next_due_s = self._clock()
        while not self._stop.is_set():
            prober.probe_once()
            next_due_s += self.interval_s
            now_s = self._clock()
            if next_due_s < now_s:
                # Fell behind (a slow endpoint): skip the missed slots, keep the fixed phase.
                next_due_s += math.ceil((now_s - next_due_s) / self.interval_s) * self.interval_s
            self._stop.wait(next_due_s - now_s)
