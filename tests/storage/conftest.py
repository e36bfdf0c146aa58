"""Fixtures of the storage tests."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest


@pytest.fixture
def synced_paths(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every path an fsync or fdatasync reached, in order."""
    reached: list[str] = []

    def recording(real: Callable[[int], None]) -> Callable[[int], None]:
        def call(descriptor: int) -> None:
            reached.append(os.readlink(f"/proc/self/fd/{descriptor}"))
            real(descriptor)

        return call

    monkeypatch.setattr(os, "fsync", recording(os.fsync))
    monkeypatch.setattr(os, "fdatasync", recording(os.fdatasync))
    yield reached
