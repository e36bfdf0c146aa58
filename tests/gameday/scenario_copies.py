"""A shipped scenario with shorter phases, for the suite: the same cluster, load and faults, less time."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

SCENARIOS = Path(__file__).parents[2] / "gameday" / "scenarios"


def shortened_copy(name: str, directory: Path, top: dict[str, Any], **tables: dict[str, Any]) -> Path:
    """gameday/scenarios/NAME.toml with `top`'s keys and each table's keys replaced, written to DIRECTORY."""
    data = tomllib.loads((SCENARIOS / f"{name}.toml").read_text())
    data.update(top)
    for table, changes in tables.items():
        data[table].update(changes)
    path = directory / f"{name}-short.toml"
    path.write_text("\n".join(_toml_lines(data, [])) + "\n")
    return path


def _toml_lines(table: dict[str, Any], prefix: list[str]) -> list[str]:
    """A table and its sub-tables at any depth (thresholds.by_alarm_kind.<kind> is three deep)."""
    lines = [f"[{'.'.join(prefix)}]"] if prefix else []
    lines += [f"{key} = {json.dumps(value)}" for key, value in table.items() if not isinstance(value, dict)]
    for key, value in table.items():
        if isinstance(value, dict):
            lines += _toml_lines(value, [*prefix, key])
    return lines
