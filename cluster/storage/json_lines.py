"""Append-only JSON Lines records (findings, events) and reading them back after a crash cut one short."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def append_json_object(path: Path, document: Mapping[str, Any]) -> None:
    """Appends one line; a record that cannot be written is logged, never raised (it is a record, not state)."""
    try:
        with open(path, "a") as output:
            output.write(json.dumps(document, sort_keys=True) + "\n")
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
