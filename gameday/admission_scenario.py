"""`[cluster.admission]` of a scenario: admission-control settings, checked by the store's own rules.

The store's `AdmissionSettings.from_json` (cluster/admission/settings.py) is the authority on names and
ranges, so a scenario can never pass a value the store would refuse after a long cluster start. The
scenario keeps the table as plain data (it is compared, printed and written to summary.json); the
deploy backends get the settings object through `ClusterShape.store_settings()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cluster.admission.settings import AdmissionSettings


def check_admission(data: Any) -> dict[str, Any]:
    """The table as the store will read it (defaults filled in); ValueError naming the field when wrong."""
    if not isinstance(data, Mapping):
        raise ValueError(f"must be a table of admission settings, got {type(data).__name__}")
    return AdmissionSettings.from_json(dict(data)).to_json()


def admission_enabled(data: Mapping[str, Any]) -> bool:
    """Whether a scenario's admission table leaves admission control on (it is on by default)."""
    return bool(data.get("enabled", True))


def admission_settings(data: Mapping[str, Any]) -> AdmissionSettings:
    return AdmissionSettings.from_json(dict(data))
