"""Append-only JSON Lines records (findings, events) and reading them back after a crash cut one short."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cluster.storage.wal_segments import fsync_directory

log = logging.getLogger(__name__)


def append_json_object(path: Path, document: Mapping[str, Any]) -> None:
    """Appends one line, durably: these records (scrub findings, log-replica events) are the harness's
    evidence after a run, and a power-off of the node (lazyfs drops what was not fsynced) must not take
    them away; they are rare, so an fsync each costs nothing that matters. A record that cannot be
    written is logged, never raised (it is a record, not state)."""
    try:
        created = not path.exists()
        with open(path, "a") as output:
            output.write(json.dumps(document, sort_keys=True) + "\n")
            output.flush()
            os.fsync(output.fileno())
        if created:
            fsync_directory(path.parent)
    except OSError as error:
        log.error("cannot append to %s: %s", path, error)


def read_json_objects(path: Path) -> list[dict[str, Any]]:
    """Every JSON object line of `path` (none when it does not exist); a line cut by a crash mid-append,
    or anything that is not an object, is skipped: the rest of the file still counts."""
    if not path.exists():
        return []
    return parse_json_objects(path.read_bytes().splitlines())


def parse_json_objects(lines: Iterable[bytes | str]) -> list[dict[str, Any]]:
    """The lines that are JSON objects, in order; any other line (cut short, garbage) is skipped."""
    objects = []
    for line in lines:
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict):
            objects.append(document)
    return objects
