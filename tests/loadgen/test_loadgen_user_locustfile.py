"""A user's own locustfile: refused when broken, given the routers and a history through the recorder API,
its operations recorded honestly and counted in Locust's statistics (examples/locust_orders.py for real)."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ReadTimeoutError

from loadgen.endpoints import Endpoint
from loadgen.locust_stats import parse_locust_stats, read_locust_stats
from loadgen.recorder import GameDay, GameDaySettings
from loadgen.recording import CompletedOperation
from loadgen.user_load import LocustfileError, check_locustfile, start_user_load
from tests.loadgen.conftest import gameday_check
from verify.history import read_history
from verify.operations import pair_operations

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "locust_orders.py"


def test_a_missing_locustfile_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(LocustfileError, match="nowhere.py: cannot read it"):
        check_locustfile(tmp_path / "nowhere.py")


def test_a_locustfile_that_does_not_compile_is_refused_naming_it_and_the_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("from locust import User\n\nclass Shopper(User)\n    pass\n")
    with pytest.raises(LocustfileError, match=r"broken.py: not valid Python: .*line 3"):
        check_locustfile(broken)


def test_the_example_compiles() -> None:
    assert check_locustfile(EXAMPLE) == EXAMPLE


def test_settings_travel_through_the_environment_in_order(tmp_path: Path) -> None:
    settings = GameDaySettings(
        (Endpoint("az-b", "http://127.0.0.1:8001"), Endpoint("az-a", "http://127.0.0.1:8000")),
        tmp_path / "history.jsonl", seed=42, process_block=900,
    )  # fmt: skip
    assert GameDaySettings.from_environment(settings.environment()) == settings
    game_day = GameDay(settings)
    assert [game_day.next_endpoint().name for _ in range(3)] == ["az-b", "az-a", "az-b"]


def test_outside_a_game_day_the_recorder_counts_but_records_nothing() -> None:
    fired: list[tuple[str, str]] = []
    game_day = GameDay(GameDaySettings.from_environment({}), lambda done, name: fired.append((name, done.outcome)))
    assert game_day.endpoints == (Endpoint("http://127.0.0.1:8000", "http://127.0.0.1:8000"),)
    assert game_day.recorder().record("read", "k", None, lambda: 3).value == 3
    assert fired == [("read", "ok")]


def test_recorded_operations_complete_honestly_and_a_process_that_saw_info_is_replaced(tmp_path: Path) -> None:
    fired: list[CompletedOperation] = []
    history = tmp_path / "history.jsonl"
    game_day = GameDay(GameDaySettings((Endpoint("az-a", "http://x"),), history, 1, 900), lambda done, _: fired.append(done))
    recorder = game_day.recorder(game_day.next_endpoint())

    def timed_out() -> int:
        raise ReadTimeoutError(endpoint_url="http://x")

    first_process = recorder.process
    assert recorder.record("incr", "orders", 1, lambda: 1).outcome == "ok"
    assert recorder.record("incr", "orders", 1, timed_out).outcome == "info"  # may have happened
    assert recorder.record("read", "orders", None, timed_out).outcome == "fail"  # a read changes nothing
    assert recorder.process != first_process
    operations = list(pair_operations(read_history(history)))
    assert [(op.function, op.outcome, op.process == first_process) for op in operations] == [
        ("incr", "ok", True), ("incr", "info", True), ("read", "fail", False),
    ]
    assert [done.outcome for done in fired] == ["ok", "info", "fail"]
    assert all(line.count('"endpoint": "az-a"') == 1 for line in history.read_text().splitlines())


def test_locust_stats_are_read_per_request_name() -> None:
    text = (
        "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,"
        "Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\n"
        "gameday,count order,20,1,64,60.9,15.5,108.7,0.0,11.5,0.0,64,78,81,87,100,100,110,110,110,110,110\n"
        ",Aggregated,20,1,63,59.7,15.5,108.7,0.0,21.0,0.0,63,68,74,81,100,100,110,110,110,110,110\n"
    )
    stats = parse_locust_stats(text)
    assert stats["count order"] == {
        "requests": 20, "failures": 1, "requests_per_s": 11.5, "average_ms": 60.9, "p50_ms": 64.0, "p95_ms": 100.0,
        "p99_ms": 110.0,
    }  # fmt: skip
    assert stats["total"]["requests"] == 20


def test_the_example_runs_against_a_real_emulator_and_its_counts_are_judged(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # One user: moto serves each request on its own thread with no lock, so two concurrent first
    # increments of one count can both create the item and both return 1 (a lost increment that is
    # moto's, not ours; CI saw it once). Concurrency against our store: tests/gameday/test_gameday_run.py.
    run = start_user_load(EXAMPLE, {"az-a": moto_endpoint}, users=1, out_dir=tmp_path / "user", seed=7, duration_s=6)
    result = run.wait()
    assert result.counts["incr"]["ok"] > 0 and result.counts["read"]["ok"] > 0
    stats = read_locust_stats(result.stats_paths)
    assert {"count order", "read count", "write order", "list orders"} <= set(stats)
    # Locust writes its CSV while the last operations may still finish: never more than were recorded.
    assert 0 < stats["count order"]["requests"] <= sum(result.counts["incr"].values())
    code, verdict = gameday_check(result.history_path, "register", monkeypatch, capsys)
    assert code == 0 and verdict["valid"] is True
    assert {entry["model"] for entry in verdict["keys"].values()} == {"counter"}


@pytest.mark.parametrize("content", [None, "class Broken(:\n"])
def test_gameday_run_refuses_a_broken_locustfile_before_the_cluster_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None
) -> None:
    import gameday.cli

    locustfile = tmp_path / "mine.py"
    if content is not None:
        locustfile.write_text(content)
    code = gameday.cli.main(["run", "smoke", "--locustfile", str(locustfile), "--out", str(tmp_path / "run")])
    assert code == 2
    assert f"--locustfile {locustfile}" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # nothing started
