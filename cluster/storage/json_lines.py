"""Reading append-only JSON Lines files that a crash may have cut short."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json_objects(path: Path) -> list[dict[str, Any]]:
    """Every JSON object line of `path` (none when it does not exist); a line cut by a crash mid-append,
    or anything that is not an object, is skipped: the rest of the file still counts."""
    if not path.exists():
        return []
    objects = []
    for line in path.read_text().splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict):
            objects.append(document)
    return objects
