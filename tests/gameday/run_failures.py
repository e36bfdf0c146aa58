"""What a failed game day in the suite should print: its output cuts each verifier's line short, and CI
keeps no run directory, so the failing verifiers' whole detail and first findings go into the message."""

from __future__ import annotations

import json
from pathlib import Path

FINDINGS_SHOWN = 3


def failed_verifiers(run_dir: Path) -> str:
    """Each failed verifier of RUN_DIR/summary.json with its detail and first findings, or why there are none."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError) as error:
        return f"(no summary.json to explain the failure: {error})"
    lines = []
    for verifier in summary.get("verifiers", []):
        if verifier.get("valid") is not False:
            continue
        lines.append(f"{verifier['name']}: {verifier.get('detail', '')}")
        findings = (verifier.get("data") or {}).get("findings")
        if isinstance(findings, list):  # some verifiers keep counts there (scrub: findings by kind)
            lines += [f"    {json.dumps(finding)[:2000]}" for finding in findings[:FINDINGS_SHOWN]]
        elif findings:
            lines.append(f"    findings: {json.dumps(findings)[:2000]}")
    return "\n".join(lines) or "(every verifier passed)"
