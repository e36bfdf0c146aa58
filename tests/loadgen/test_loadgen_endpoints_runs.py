"""Locust users bound to several endpoints, for real against moto_server (master/worker mode).

Three names for one moto server are three routers of one store: the history records which one each
operation went through and stays linearizable. Two moto servers share no data, like a router that
serves a copy the acknowledged writes never reached: the register checker then sees stale reads.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadgen.dynamodb_client import ClientSettings, ensure_table, make_client
from loadgen.run import run_load
from tests.canaries.conftest import MotoEndpoints
from tests.loadgen.conftest import gameday_check
from verify.history import read_history


@pytest.fixture
def two_stores(tmp_path: Path) -> Iterator[dict[str, str]]:
    endpoints = MotoEndpoints(tmp_path)
    try:
        yield endpoints.start(["store-1", "store-2"])
    finally:
        endpoints.stop_all()


def endpoints_by_key(history: Path) -> dict[str, set[str]]:
    """Key → the endpoints its operations went through (from the history's extra `endpoint` field)."""
    seen: dict[str, set[str]] = defaultdict(set)
    for line in history.read_text().splitlines():
        event = json.loads(line)
        if event.get("key") is not None:
            seen[event["key"]].add(event["endpoint"])
    return seen


def test_users_spread_over_every_endpoint_and_every_key_is_reached_through_each(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    routers = {"az-a": moto_endpoint, "az-b": moto_endpoint, "az-c": moto_endpoint}
    # Two workers, three users each: worker 0 binds its users to az-a, az-b, az-c, worker 1 to az-b, az-c, az-a.
    result = run_load(routers, "register", users=6, duration_s=4, out_dir=tmp_path / "run", workers=2, table="spread", keys=2)
    events = list(read_history(result.history_path))
    assert result.counts["write"]["ok"] > 0
    client_lines = [line for line in result.history_path.read_text().splitlines() if '"process": "nemesis"' not in line]
    assert all('"endpoint": "az-' in line for line in client_lines)  # every invoke and completion names its router
    assert endpoints_by_key(result.history_path) == {"r0": set(routers), "r1": set(routers)}
    # A process stays on its endpoint (a client bound to one router).
    by_process: dict[int, set[str]] = defaultdict(set)
    for line in client_lines:
        event = json.loads(line)
        by_process[event["process"]].add(event["endpoint"])
    assert all(len(names) == 1 for names in by_process.values())
    assert len(events) == len(client_lines)
    code, verdict = gameday_check(result.history_path, "register", monkeypatch, capsys)
    assert code == 0 and verdict["valid"] is True


def test_a_router_serving_a_copy_the_writes_never_reached_makes_the_history_invalid(
    two_stores: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for url in two_stores.values():  # a store of its own behind each endpoint: each needs the table
        ensure_table(make_client(ClientSettings(url)), "split")
    result = run_load(two_stores, "register", users=4, duration_s=4, out_dir=tmp_path / "run", table="split", keys=1)
    assert endpoints_by_key(result.history_path) == {"r0": {"store-1", "store-2"}}
    code, verdict = gameday_check(result.history_path, "register", monkeypatch, capsys)
    assert code == 1 and verdict["valid"] is False
