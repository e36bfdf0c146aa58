"""Reading append-only JSON Lines files that a crash may have cut short."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


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
