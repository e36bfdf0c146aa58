"""How a storage node scrubs: on or off, how often, where the WAL archive lives.

Read once at start from the topology (`scrub_enabled`, `archive`) and the environment, which wins
when set, so a test or a game day can switch the scrub off for one cluster without a new topology:

    GAMEDAY_SCRUB=off|on                  the switch (off: no rounds, no archive, no leadership gate)
    GAMEDAY_SCRUB_INTERVAL_S=2.0          one round per node per interval: the bounded rate
    GAMEDAY_SCRUB_REFERENCE_INTERVAL_S=10 at most one archive-reference check per group per interval
    GAMEDAY_SCRUB_ITEMS_PER_S=2000        a round that digested N items waits N / this before the next,
                                          so the scrub's cost stays flat as the data grows
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
ITEMS_PER_S_VARIABLE = "GAMEDAY_SCRUB_ITEMS_PER_S"
ARCHIVE_VARIABLE = "GAMEDAY_ARCHIVE"
DEFAULT_INTERVAL_S = 2.0
DEFAULT_REFERENCE_INTERVAL_S = 10.0
# Every replica digests the whole group at each marker (~2 us an item): 2,000 items a second per leader
# keeps a node's share of the scrub near 1 % of a core however large its groups grow.
DEFAULT_ITEMS_PER_S = 2000.0


class ScrubSettingsError(ValueError):
    """A scrub setting that is not valid; the message names the variable and the value."""


@dataclass(frozen=True)
class ScrubSettings:
    enabled: bool = True
    interval_s: float = DEFAULT_INTERVAL_S
    reference_interval_s: float = DEFAULT_REFERENCE_INTERVAL_S
    archive: str = ""
    items_per_s: float = DEFAULT_ITEMS_PER_S

    def pause_after(self, items_digested: int) -> float:
        """Seconds before the next round: the interval, or longer after a round over a large group."""
        return max(self.interval_s, items_digested / self.items_per_s)


def default_archive(node_data_dir: Path) -> str:
    """DATA_DIR/archive for a node of a local cluster (DATA_DIR/processes/<id>), else beside the node's data."""
    if node_data_dir.parent.name == "processes":
        return str(node_data_dir.parent.parent / "archive")
    return str(node_data_dir / "archive")


def _positive(environment: Mapping[str, str], name: str, default: float, what: str) -> float:
    text = environment.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ScrubSettingsError(f"{name}={text!r} is not {what}") from None
    if not math.isfinite(value) or value <= 0:
        raise ScrubSettingsError(f"{name}={text!r} must be a positive {what.removeprefix('a ')}")
    return value


def _seconds(environment: Mapping[str, str], name: str, default: float) -> float:
    return _positive(environment, name, default, "a number of seconds")


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
        items_per_s=_positive(environment, ITEMS_PER_S_VARIABLE, DEFAULT_ITEMS_PER_S, "a number of items a second"),
    )
