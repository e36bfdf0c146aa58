"""How a storage node scrubs: on or off, how often, where the WAL archive lives.

Read once at start from the topology (`scrub_enabled`, `archive`) and the environment, which wins
when set, so a test or a game day can switch the scrub off for one cluster without a new topology:

    GAMEDAY_SCRUB=off|on                  the switch (off: no rounds, no archive, no leadership gate)
    GAMEDAY_SCRUB_INTERVAL_S=2.0          one round per node per interval: the bounded rate
    GAMEDAY_SCRUB_REFERENCE_INTERVAL_S=10 at most one archive-reference check per group per interval
    GAMEDAY_ARCHIVE=DIR|s3://BUCKET/PREFIX  where sealed WAL segments go (default DATA_DIR/archive)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENABLED_VARIABLE = "GAMEDAY_SCRUB"
INTERVAL_VARIABLE = "GAMEDAY_SCRUB_INTERVAL_S"
REFERENCE_INTERVAL_VARIABLE = "GAMEDAY_SCRUB_REFERENCE_INTERVAL_S"
ARCHIVE_VARIABLE = "GAMEDAY_ARCHIVE"
DEFAULT_INTERVAL_S = 2.0
DEFAULT_REFERENCE_INTERVAL_S = 10.0


class ScrubSettingsError(ValueError):
    """A scrub setting that is not valid; the message names the variable and the value."""


@dataclass(frozen=True)
class ScrubSettings:
    enabled: bool = True
    interval_s: float = DEFAULT_INTERVAL_S
    reference_interval_s: float = DEFAULT_REFERENCE_INTERVAL_S
    archive: str = ""


def default_archive(node_data_dir: Path) -> str:
    """DATA_DIR/archive for a node of a local cluster (DATA_DIR/processes/<id>), else beside the node's data."""
    if node_data_dir.parent.name == "processes":
        return str(node_data_dir.parent.parent / "archive")
    return str(node_data_dir / "archive")


def _seconds(environment: Mapping[str, str], name: str, default: float) -> float:
    text = environment.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ScrubSettingsError(f"{name}={text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise ScrubSettingsError(f"{name}={text!r} must be a positive number of seconds")
    return value


def scrub_settings(
    environment: Mapping[str, str], node_data_dir: Path, *, enabled: bool = True, archive: str = ""
) -> ScrubSettings:
    switch = environment.get(ENABLED_VARIABLE, "").strip().lower()
    if switch in ("off", "0", "false", "no"):
        enabled = False
    elif switch in ("on", "1", "true", "yes"):
        enabled = True
    elif switch:
        raise ScrubSettingsError(f"{ENABLED_VARIABLE}={switch!r}: use on or off")
    return ScrubSettings(
        enabled=enabled,
        interval_s=_seconds(environment, INTERVAL_VARIABLE, DEFAULT_INTERVAL_S),
        reference_interval_s=_seconds(environment, REFERENCE_INTERVAL_VARIABLE, DEFAULT_REFERENCE_INTERVAL_S),
        archive=environment.get(ARCHIVE_VARIABLE, "").strip() or archive or default_archive(node_data_dir),
    )
