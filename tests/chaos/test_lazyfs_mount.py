"""lazyfs through a real FUSE mount: the kernel's view after a power loss, and a mount never left behind."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from chaos.lazyfs.control import lose_power
from chaos.lazyfs.mounts import is_mounted, start_mount, stop_mount
from tests.chaos.lazyfs_support import lazyfs_mount, skip_unless_lazyfs_runs


def fsync_path(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def test_the_kernel_forgets_what_a_power_loss_dropped(tmp_path: Path) -> None:
    with lazyfs_mount(tmp_path / "disk") as (mount, _):
        descriptor = os.open(mount / "wal", os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
        os.write(descriptor, b"synced.")
        os.fdatasync(descriptor)
        fsync_path(mount)
        os.write(descriptor, b"unsynced" * 1000)
        os.close(descriptor)
        (mount / "new-dir").mkdir()
        assert (mount / "wal").stat().st_size == 8007  # cached by the kernel now
        report = lose_power(mount)
        assert report["lost_files"] >= 1 and report["lost_directory_changes"] == 1
        # Size, names and pages as the disk holds them, at once (no stale kernel cache) ...
        assert (mount / "wal").stat().st_size == 7
        assert (mount / "wal").read_bytes() == b"synced."
        assert sorted(os.listdir(mount)) == ["wal"]
        # ... so an O_APPEND write continues at the durable end, not at the lost one.
        descriptor = os.open(mount / "wal", os.O_WRONLY | os.O_APPEND)
        os.write(descriptor, b"+next")
        os.close(descriptor)
        assert (mount / "wal").read_bytes() == b"synced.+next"


def test_a_directory_a_power_loss_dropped_can_be_made_again_and_written_into(tmp_path: Path) -> None:
    """Seen in a torture run: the kernel still held the dropped directory's name, so `mkdir -p` found it,
    and creating a file in it failed with ENOENT (a store's group could not be opened after a power-off)."""
    with lazyfs_mount(tmp_path / "disk") as (mount, _):
        (mount / "group").mkdir()
        (mount / "group" / "inner").mkdir()
        assert (mount / "group" / "inner").is_dir()  # the kernel caches both names now
        lose_power(mount)
        assert not (mount / "group").exists()
        (mount / "group").mkdir()
        (mount / "group" / "group.json").write_bytes(b"{}")
        assert (mount / "group" / "group.json").read_bytes() == b"{}"
        assert not (mount / "group" / "inner").exists()


def test_the_records_a_game_day_reads_afterwards_survive_a_power_loss(tmp_path: Path) -> None:
    """Seen in a default run: the scrub repaired every rotten item, but its findings were lost when an AZ
    power-off cut the node that recorded them, and the scrub verifier failed a healthy store."""
    from cluster.scrub.findings import FindingsLog, read_findings

    with lazyfs_mount(tmp_path / "disk") as (mount, _):
        findings = FindingsLog(mount / "scrub")
        findings.record("mismatch", group="g-p1")
        findings.record("repaired", group="g-p1")
        lose_power(mount)
        assert [finding["kind"] for finding in read_findings(findings.path)] == ["mismatch", "repaired"]


def test_clean_unmount_writes_everything_back(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    with lazyfs_mount(disk) as (mount, _):
        (mount / "sub").mkdir()
        (mount / "sub" / "f").write_bytes(b"never fsynced")
    assert not is_mounted(disk)
    assert (disk / "sub" / "f").read_bytes() == b"never fsynced"
    assert sorted(os.listdir(disk)) == ["sub"]  # no staging left behind


def test_a_killed_lazyfs_leaves_no_mount_behind(tmp_path: Path) -> None:
    skip_unless_lazyfs_runs()
    disk = tmp_path / "disk"
    disk.mkdir()
    (disk / "kept").write_bytes(b"on disk before")
    pid = start_mount(disk, tmp_path / "lazyfs.log")
    try:
        os.kill(pid, signal.SIGKILL)  # the FUSE process dies: its mount answers ENOTCONN
        os.waitpid(pid, 0)
        assert is_mounted(disk)
        pid = start_mount(disk, tmp_path / "lazyfs.log")  # clears the stale mount first
        assert (disk / "kept").read_bytes() == b"on disk before"
    finally:
        stop_mount(disk, pid)
    assert not is_mounted(disk)


def test_a_busy_mount_is_detached_lazily(tmp_path: Path) -> None:
    skip_unless_lazyfs_runs()
    disk = tmp_path / "disk"
    pid = start_mount(disk, tmp_path / "lazyfs.log")
    held = open(disk / "held", "wb")  # noqa: SIM115 - kept open across the unmount on purpose
    try:
        stop_mount(disk, pid, timeout_s=1.0)
        assert not is_mounted(disk)
    finally:
        # The process was killed after the timeout (the file held it): closing reports the lost connection.
        with contextlib.suppress(OSError):
            held.close()
    assert not os.path.exists(f"/proc/{pid}/cmdline") or b"lazyfs" not in Path(f"/proc/{pid}/cmdline").read_bytes()
