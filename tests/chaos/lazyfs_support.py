"""A real lazyfs mount in a temporary directory for a test, always unmounted afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.lazyfs.mounts import available, is_mounted, start_mount, stop_mount, unmount


def skip_unless_lazyfs_runs() -> None:
    problem = available()
    if problem:
        pytest.skip(f"lazyfs cannot run here: {problem}")


@contextlib.contextmanager
def lazyfs_mount(directory: Path) -> Iterator[tuple[Path, int]]:
    """(mount point, lazyfs pid); the mount point is also the backing directory."""
    skip_unless_lazyfs_runs()
    directory.mkdir(parents=True, exist_ok=True)
    pid = start_mount(directory, directory.parent / f"{directory.name}-lazyfs.log")
    try:
        yield directory, pid
    finally:
        try:
            stop_mount(directory, pid)
        finally:
            if is_mounted(directory):
                unmount(directory, lazy=True)
