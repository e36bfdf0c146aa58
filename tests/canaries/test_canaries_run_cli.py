"""``python -m canaries.run`` as a process: first stdout line, records file, signals, set-up failure."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import canaries
from canaries.records_file import read_records
from tests.canaries.conftest import MotoEndpoints, free_port

# The package may not be installed: children find it through PYTHONPATH, whatever their cwd.
ENVIRONMENT = {**os.environ, "PYTHONPATH": str(Path(canaries.__file__).resolve().parent.parent)}


def command(az: str, urls: dict[str, str], out: Path, *extra: str) -> list[str]:
    arguments = [sys.executable, "-m", "canaries.run", "--az", az, "--table", "cli", "--interval", "0.2"]
    arguments += ["--out", str(out), "--metrics-port", "0", *extra]
    for endpoint_az, url in urls.items():
        arguments += ["--endpoint", f"{endpoint_az}={url}"]
    return arguments


def test_runs_for_its_duration_creating_the_table_and_recording(
    moto_endpoints: MotoEndpoints, tmp_path: Path
) -> None:
    urls = moto_endpoints.start(["az-a", "az-b"])
    out = tmp_path / "canaries.jsonl"
    finished = subprocess.run(
        command("az-a", urls, out, "--duration", "1.0"),
        capture_output=True,
        timeout=60,
        cwd=tmp_path,
        env=ENVIRONMENT,
    )
    assert finished.returncode == 0, finished.stderr.decode()
    first_line = json.loads(finished.stdout.decode().splitlines()[0])
    assert first_line["az"] == "az-a" and first_line["metrics_port"] > 0
    records = list(read_records(out))
    assert {(r["endpoint_az"], r["outcome"]) for r in records} == {("az-a", "ok"), ("az-b", "ok")}


def test_sigterm_stops_it_cleanly(moto_endpoints: MotoEndpoints, tmp_path: Path) -> None:
    urls = moto_endpoints.start(["az-a"])
    process = subprocess.Popen(
        command("az-c", urls, tmp_path / "c.jsonl"), stdout=subprocess.PIPE, env=ENVIRONMENT
    )
    try:
        assert process.stdout is not None
        json.loads(process.stdout.readline())
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_closing_stdin_stops_it_so_it_never_outlives_its_parent(
    moto_endpoints: MotoEndpoints, tmp_path: Path
) -> None:
    urls = moto_endpoints.start(["az-a"])
    arguments = command("az-a", urls, tmp_path / "c.jsonl", "--stop-on-stdin-eof")
    process = subprocess.Popen(arguments, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=ENVIRONMENT)
    try:
        assert process.stdin is not None and process.stdout is not None
        json.loads(process.stdout.readline())
        process.stdin.close()
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_no_reachable_endpoint_fails_set_up_with_exit_code_2(tmp_path: Path) -> None:
    started_s = time.monotonic()
    finished = subprocess.run(
        command(
            "az-a", {"az-a": f"http://127.0.0.1:{free_port()}"}, tmp_path / "c.jsonl", "--setup-timeout", "1"
        ),
        capture_output=True,
        timeout=30,
        env=ENVIRONMENT,
    )
    assert finished.returncode == 2
    assert finished.stdout == b""
    assert b"set-up at az-a failed" in finished.stderr
    assert time.monotonic() - started_s < 20


def test_malformed_endpoint_is_a_usage_error(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "canaries.run", "--az", "a", "--table", "t", "--endpoint", "no-url"],
        capture_output=True,
        timeout=30,
        env=ENVIRONMENT,
    )
    assert finished.returncode == 2 and b"expected AZ=URL" in finished.stderr
