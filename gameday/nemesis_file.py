"""What a run's nemesis file (RUN_DIR/nemesis.jsonl) says about its faults, read after the fact:
the windows each fault was in force, and what the controller's final sweep found still down."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def fault_windows(nemesis_path: Path) -> list[dict[str, Any]]:
    """Start/stop pairs of the nemesis events, by fault number, in monotonic seconds."""
    windows: dict[Any, dict[str, Any]] = {}
    if not nemesis_path.exists():
        return []
    for line in nemesis_path.read_text().splitlines():
        event = json.loads(line)
        function, value = event.get("f", ""), event.get("value") or {}
        number = value.get("fault") if isinstance(value, dict) else None
        if number is None:
            continue
        if function.startswith("start-"):
            windows[number] = {"kind": function[len("start-"):], "start_s": event["time"] / 1e9, "target": value}
        elif function.startswith("stop-") and number in windows:
            windows[number]["heal_s"] = event["time"] / 1e9
    return sorted(windows.values(), key=lambda window: window["start_s"])


def unplanned_faults(nemesis_path: Path) -> list[str]:
    """What the controller's final sweep had to power on or resume: nothing planned held it down."""
    found = []
    if nemesis_path.exists():
        for line in nemesis_path.read_text().splitlines():
            event = json.loads(line)
            if event.get("f") == "heal-all" and isinstance(event.get("value"), dict):
                value = event["value"]
                found += [f"{process} was down" for process in value.get("powered_on", {})]
                found += [f"{process} was paused" for process in value.get("resumed", [])]
    return found
