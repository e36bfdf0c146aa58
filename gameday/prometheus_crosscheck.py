"""Prometheus as a second source for the alarms: do its canary counters agree with the canaries' files?

Every canary record (canaries.jsonl) is one increment of ``canary_requests_total{az, endpoint_az,
operation, outcome}``, made right after the record is written. So at every scrape Prometheus took, the
counter must equal the number of records of that series completed by then. The only slack is the
scrape instant itself, and it is bounded by the records, not by a guess:

- a record whose request completed more than ``LATE_S`` before the scrape must be counted (``LATE_S``
  covers writing the record and the increment that follows it, on a busy machine);
- a record whose request started more than ``EARLY_S`` after the scrape cannot be counted (``EARLY_S``
  covers the scrape timestamp being taken a little before the exposition is generated);
- a request in flight at the scrape may be on either side.

The alarms are ratios of these counters over windows, so counters that agree at every scrape give the
same alarm values up to the scrape interval (1 s) at each window boundary. Pure functions of parsed
query results and records; the HTTP edge is in ``query_canary_samples``.
"""

from __future__ import annotations

import bisect
import json
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

LATE_S = 0.5
EARLY_S = 0.1
HTTP_TIMEOUT_S = 30.0
MAX_REPORTED = 5

SeriesKey = tuple[str, str, str, str]  # (canary az, endpoint az, operation, outcome)
Samples = Mapping[SeriesKey, Sequence[tuple[float, float]]]  # (unix time s, counter value)


class PrometheusQueryError(Exception):
    """Prometheus did not answer a query, or answered with an error."""


@dataclass(frozen=True)
class Mismatch:
    series: SeriesKey
    time_s: float
    prometheus: float
    file_at_least: int
    file_at_most: int

    def describe(self) -> str:
        az, endpoint_az, operation, outcome = self.series
        return (
            f"{az}->{endpoint_az} {operation} {outcome} at {self.time_s:.1f}: prometheus {self.prometheus:g}, "
            f"canary file {self.file_at_least}..{self.file_at_most}"
        )


@dataclass(frozen=True)
class CrossCheck:
    agrees: bool
    samples_checked: int
    series_checked: int
    mismatches: list[Mismatch] = field(default_factory=list)
    missing_series: list[SeriesKey] = field(default_factory=list)  # in the file, never in Prometheus

    def describe(self) -> str:
        if self.agrees:
            return (
                f"prometheus agrees: {self.samples_checked} scraped values of {self.series_checked} canary "
                f"series match canaries.jsonl (within requests in flight at each scrape)"
            )
        problems = [f"{'/'.join(key)} never scraped" for key in self.missing_series[:MAX_REPORTED]]
        problems += [mismatch.describe() for mismatch in self.mismatches[:MAX_REPORTED]]
        if not self.series_checked:
            problems.insert(0, "prometheus holds no canary_requests_total sample")
        count = len(self.mismatches) + len(self.missing_series)
        return f"prometheus disagrees ({count} problem(s)): " + "; ".join(problems)


def _record_bounds(records: Iterable[Mapping[str, Any]]) -> dict[SeriesKey, tuple[list[float], list[float]]]:
    """Per series: sorted completion times and sorted start times of its records (wall clock, s)."""
    starts: dict[SeriesKey, list[float]] = defaultdict(list)
    ends: dict[SeriesKey, list[float]] = defaultdict(list)
    for record in records:
        key = (record["canary_az"], record["endpoint_az"], record["operation"], record["outcome"])
        started = float(record["wall_time_s"])
        starts[key].append(started)
        ends[key].append(started + float(record["latency_ms"]) / 1000.0)
    return {key: (sorted(ends[key]), sorted(starts[key])) for key in starts}


def crosscheck(records: Iterable[Mapping[str, Any]], samples: Samples) -> CrossCheck:
    """Every scraped counter value against the records completed (at least) and started (at most) by then."""
    bounds = _record_bounds(records)
    mismatches: list[Mismatch] = []
    checked = 0
    for key, series in sorted(samples.items()):
        ends, starts = bounds.get(key, ([], []))
        for time_s, value in series:
            at_least = bisect.bisect_left(ends, time_s - LATE_S)
            at_most = bisect.bisect_right(starts, time_s + EARLY_S)
            checked += 1
            if not at_least <= value <= at_most:
                mismatches.append(Mismatch(key, time_s, value, at_least, at_most))
    missing = sorted(key for key in bounds if not samples.get(key))
    agrees = not mismatches and not missing and checked > 0
    return CrossCheck(agrees, checked, sum(1 for series in samples.values() if series), mismatches, missing)


# ---- the HTTP edge ----------------------------------------------------------------------------------


def _get_json(base_url: str, path: str, params: Mapping[str, str]) -> Any:
    url = f"{base_url.rstrip('/')}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
            body = json.load(response)
    except OSError as error:  # URLError, HTTPError (4xx/5xx with an error body), timeouts
        raise PrometheusQueryError(f"{url}: {error}") from error
    if body.get("status") != "success":
        raise PrometheusQueryError(f"{url}: {body.get('errorType')}: {body.get('error')}")
    return body["data"]


def instant_query(base_url: str, query: str, time_s: float) -> dict[str, Any]:
    """``/api/v1/query``: {"resultType": ..., "result": [...]}."""
    return _get_json(base_url, "/api/v1/query", {"query": query, "time": f"{time_s:.3f}"})


def range_query(base_url: str, query: str, start_s: float, end_s: float, step_s: float) -> dict[str, Any]:
    """``/api/v1/query_range``: a matrix evaluated every ``step_s`` over [start_s, end_s]."""
    params = {"query": query, "start": f"{start_s:.3f}", "end": f"{end_s:.3f}", "step": f"{step_s:g}"}
    return _get_json(base_url, "/api/v1/query_range", params)


def query_canary_samples(base_url: str, start_s: float, end_s: float) -> dict[SeriesKey, list[tuple[float, float]]]:
    """Every raw scraped value of canary_requests_total in [start_s, end_s] (a range selector: no
    interpolation, no extrapolation)."""
    seconds = max(1, int(end_s - start_s) + 1)
    data = instant_query(base_url, f"canary_requests_total[{seconds}s]", end_s)
    samples: dict[SeriesKey, list[tuple[float, float]]] = {}
    for series in data.get("result", []):
        labels = series["metric"]
        key = (labels.get("az", ""), labels.get("endpoint_az", ""), labels.get("operation", ""), labels.get("outcome", ""))
        samples.setdefault(key, []).extend((float(time_s), float(value)) for time_s, value in series["values"])
    return samples


def firing_alerts(base_url: str, start_s: float, end_s: float, step_s: float = 1.0) -> list[dict[str, str]]:
    """Alerts that were firing at some point of [start_s, end_s], by name and labels."""
    data = range_query(base_url, 'ALERTS{alertstate="firing"}', start_s, end_s, step_s)
    alerts = []
    for series in data.get("result", []):
        labels = {name: value for name, value in series["metric"].items() if name not in ("__name__", "alertstate")}
        alerts.append(labels)
    return sorted(alerts, key=lambda labels: sorted(labels.items()))
