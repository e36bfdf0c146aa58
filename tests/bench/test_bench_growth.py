"""growth_bench's measuring helpers (the benchmark itself runs a cluster: `python -m bench.growth_bench`)."""

from __future__ import annotations

import os
from pathlib import Path

from bench.growth_bench import Stage, _row, group_parts_mb, growth_line, resident_mb


def test_resident_memory_of_a_live_process_is_read_from_proc() -> None:
    before = resident_mb(os.getpid())
    ballast = bytearray(64 * 2**20)
    ballast[:: 4096] = b"x" * len(ballast[:: 4096])  # touch every page so it is resident
    assert resident_mb(os.getpid()) >= before + 60
    del ballast


def test_directory_bytes_count_one_part_of_every_group_of_every_process(tmp_path: Path) -> None:
    for process, group in (("node-a1", "t-p0"), ("node-b1", "t-p0"), ("node-b1", "t-p1")):
        wal = tmp_path / "processes" / process / "groups" / group / "wal"
        wal.mkdir(parents=True)
        (wal / "0000000000000001.wal").write_bytes(b"w" * 2**20)
        (wal.parent / "state").mkdir()
        (wal.parent / "state" / "items.sqlite").write_bytes(b"s" * 2**19)
    assert group_parts_mb(tmp_path, "wal") == 3.0
    assert group_parts_mb(tmp_path, "state") == 1.5


def test_a_row_shows_every_measure() -> None:
    row = _row(Stage(30_000, 612.4, 410.0, 95.2, 12.25, 0.5, 30_017, 3, 1.234, 14_002, 0.456, 9_876, 0.31), 10_000)
    assert row == (
        "| 10,000 entries | 30,000 | 612 | 3 | 30,017 (14,002) | 410 / 95 MB | 12.2 MB | 0.5 MB "
        "| 1.23 s (0.46 s; 9,876) | 0.31 s |"
    )
    assert _row(Stage(10, 1.0, 1.0, 1.0, 0.0, 0.0, 10, 1, 0.1, 10), 0).endswith("| 0.10 s (0.00 s; 0) | none added |")
    assert _row(Stage(10, 1.0, 1.0, 1.0, 0.0, 0.0, 10, 1, 0.1, 10), 0).startswith("| never | 10 |")


def test_the_growth_line_compares_the_last_stage_with_the_first() -> None:
    first = Stage(10_000, 1000.0, 200.0, 40.0, 10.0, 20.0, 10_000, 1, 0.30, 10_000)
    last = Stage(60_000, 1000.0, 220.0, 44.0, 12.0, 20.0, 60_000, 1, 0.33, 12_000)
    assert growth_line([first, last], 10_000) == (
        "snapshots every 10,000 entries: 6.0x the writes: RSS 1.10x, WAL 1.20x, log held 1.20x, restart 1.10x "
        "(the data is the same few keys throughout)"
    )
    healed = [Stage(**{**vars(stage), "heal_s": heal}) for stage, heal in ((first, 0.30), (last, 0.45))]
    assert "restart 1.10x, log-replica heal 1.50x (the data" in growth_line(healed, 10_000)
