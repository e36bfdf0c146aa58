"""Benchmark of `verify/`: time and peak memory of `gameday check` on generated histories.

Run: .venv/bin/python -m bench.verify_bench [--quick]. Each case is a fresh subprocess, so peak
memory (ru_maxrss) is that case's alone. Histories come from the simulated atomic register and the
simulated serializable list-append store (seeded, so a row replays) and a generated set workload. Not a test: it prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from verify.simulated_history import simulate_list_append_history, simulate_register_history

REPOSITORY = Path(__file__).resolve().parents[1]
CASE_TIMEOUT_S = 120


def write_register_history(path: Path, operation_count: int, key_count: int, process_count: int) -> None:
    keys = [f"k{index}" for index in range(key_count)]
    events = simulate_register_history(
        random.Random(operation_count + key_count + process_count), operation_count, process_count, keys=keys
    )
    with open(path, "w") as file:
        for event in events:
            file.write(json.dumps(event) + "\n")


def write_list_append_history(path: Path, transaction_count: int, key_count: int, process_count: int) -> None:
    events = simulate_list_append_history(random.Random(transaction_count + key_count), transaction_count, key_count, process_count)
    with open(path, "w") as file:
        for event in events:
            file.write(json.dumps(event) + "\n")


def write_set_history(path: Path, add_count: int, process_count: int) -> None:
    rng = random.Random(add_count)
    failed: set[int] = set()
    with open(path, "w") as file:
        index = 0
        for element in range(add_count):
            process = element % process_count
            outcome = "ok" if rng.random() < 0.98 else rng.choice(["fail", "info"])
            if outcome == "fail":
                failed.add(element)
            for event_type in ("invoke", outcome):
                file.write(
                    json.dumps(
                        {
                            "index": index,
                            "time": index,
                            "process": process if outcome != "info" else f"{process}-{element}",
                            "type": event_type,
                            "f": "add",
                            "value": element,
                        }
                    )
                    + "\n"
                )
                index += 1
        file.write(
            json.dumps(
                {"index": index, "time": index, "process": "reader", "type": "invoke", "f": "read-set"}
            )
            + "\n"
        )
        file.write(
            json.dumps(
                {
                    "index": index + 1,
                    "time": index + 1,
                    "process": "reader",
                    "type": "ok",
                    "f": "read-set",
                    "value": [element for element in range(add_count) if element not in failed],
                }
            )
            + "\n"
        )


def run_case(path: Path, model: str) -> tuple[str, float, str]:
    """(verdict, seconds, peak resident MiB) of the installed `gameday check` in its own process.

    os.wait4 gives the rusage of exactly this child, so the peak is this case's, not the largest
    of all cases so far (which is what RUSAGE_CHILDREN reports).
    """
    executable = Path(sys.executable).parent / "gameday"
    command = [str(executable), "check", str(path), "--model", model, "--time-limit", "60"]
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, text=True, cwd=REPOSITORY)
        # wait4 has no timeout of its own: a timer kills a case that hangs past the bound.
        killer = threading.Timer(CASE_TIMEOUT_S, process.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        elapsed_s = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # already reaped: tell Popen
        stdout.seek(0)
        stderr.seek(0)
        output, errors = stdout.read(), stderr.read()
    verdict = json.loads(output)["valid"] if output else f"error: {errors[-200:]}"
    return str(verdict), elapsed_s, f"{usage.ru_maxrss / 1024:.0f}"  # ru_maxrss is in KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the 100k-operation and 1M-add cases")
    args = parser.parse_args()
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    print("| workload | operations | keys | processes | verdict | seconds | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "history.jsonl"
        cases = [(n, k, p) for n in sizes for k in (1, 10, 1_000) for p in (5, 20)]
        cases.append((5_000, 1, 20))
        for operation_count, key_count, process_count in cases:
            write_register_history(path, operation_count, key_count, process_count)
            verdict, seconds, peak = run_case(path, "register")
            print(
                f"| register | {operation_count} | {key_count} | {process_count} | {verdict} | {seconds:.2f} | {peak} |",
                flush=True,
            )
        add_count = 100_000 if args.quick else 1_000_000
        write_set_history(path, add_count, 20)
        verdict, seconds, peak = run_case(path, "set")
        print(f"| set | {add_count} adds | 1 | 20 | {verdict} | {seconds:.2f} | {peak} |", flush=True)
        # The transactions issue's goal: 10,000 list-append transactions over 100 keys in under 10 s.
        for transaction_count in [10_000] if args.quick else [10_000, 100_000]:
            write_list_append_history(path, transaction_count, 100, 20)
            verdict, seconds, peak = run_case(path, "list-append")
            print(f"| list-append | {transaction_count} txns | 100 | 20 | {verdict} | {seconds:.2f} | {peak} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
