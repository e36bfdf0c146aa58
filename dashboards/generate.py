"""Regenerate every shipped file of this package: ``python -m dashboards.generate``.

The alert rules and dashboards use the ``default`` scenario's thresholds, the ones ``make gameday``
judges against. A test fails when a shipped file differs from what this would write.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dashboards.alert_rules import RULES_PATH, write_rules
from dashboards.grafana import PROVISIONING_DIR, write_dashboards
from gameday.scenario import load_scenario

SHIPPED_SCENARIO = "default"


def generate(rules_path: Path = RULES_PATH, provisioning_dir: Path = PROVISIONING_DIR) -> list[Path]:
    thresholds = load_scenario(SHIPPED_SCENARIO).thresholds
    return [write_rules(thresholds, rules_path), *write_dashboards(provisioning_dir, thresholds)]


def main() -> int:
    for path in generate():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
