"""Which game day must catch each planted bug: gameday/selftest_cases.toml read into typed cases.

The data names scenarios, fault kinds and modules that other changes may not have landed yet; what a
case lacks in this build is worked out here (pure, from what the caller says is available), so the
self-test can skip that bug with a message naming what it needs instead of failing obscurely.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

CASES_FILE_NAME = "selftest_cases.toml"
SCENARIO_DIRECTORY_NAME = "selftest_scenarios"
_CASE_KEYS = {"scenario", "caught_by", "fault_kinds", "modules", "note"}


class SelfTestCasesError(Exception):
    """The cases file is wrong: the message names the file, the bug and the field."""


@dataclass(frozen=True)
class SelfTestCase:
    bug: str
    scenario: str  # a file stem under gameday/selftest_scenarios/, a shipped scenario, or a path
    caught_by: tuple[str, ...]  # a failure of any one of these verifiers catches the bug
    fault_kinds: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    note: str = ""


def _strings(file: str, bug: str, key: str, value: Any, *, required: bool) -> tuple[str, ...]:
    if value is None and not required:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value) or (
        required and not value
    ):
        raise SelfTestCasesError(f"{file}: bugs.{bug}.{key}: must be a{' non-empty' if required else 'n'} array of names")
    return tuple(value)


def parse_cases(data: Mapping[str, Any], file: str, known_bugs: Collection[str]) -> dict[str, SelfTestCase]:
    """Validates parsed TOML: every case names a known bug, and every known bug has a case."""
    bugs = data.get("bugs")
    if not isinstance(bugs, dict) or set(data) != {"bugs"}:
        raise SelfTestCasesError(f"{file}: must hold only [bugs.<name>] tables")
    cases: dict[str, SelfTestCase] = {}
    for bug, table in bugs.items():
        if bug not in known_bugs:
            raise SelfTestCasesError(f"{file}: bugs.{bug}: not a planted bug; known: {', '.join(sorted(known_bugs))}")
        if not isinstance(table, dict):
            raise SelfTestCasesError(f"{file}: bugs.{bug}: must be a table")
        unknown = sorted(set(table) - _CASE_KEYS)
        if unknown:
            raise SelfTestCasesError(f"{file}: bugs.{bug}.{unknown[0]}: unknown key; known: {', '.join(sorted(_CASE_KEYS))}")
        scenario, note = table.get("scenario"), table.get("note", "")
        if not isinstance(scenario, str) or not scenario:
            raise SelfTestCasesError(f"{file}: bugs.{bug}.scenario: must name a scenario")
        if not isinstance(note, str):
            raise SelfTestCasesError(f"{file}: bugs.{bug}.note: must be a string")
        cases[bug] = SelfTestCase(
            bug=bug,
            scenario=scenario,
            caught_by=_strings(file, bug, "caught_by", table.get("caught_by"), required=True),
            fault_kinds=_strings(file, bug, "fault_kinds", table.get("fault_kinds"), required=False),
            modules=_strings(file, bug, "modules", table.get("modules"), required=False),
            note=note,
        )
    missing = sorted(set(known_bugs) - set(cases))
    if missing:
        raise SelfTestCasesError(f"{file}: no self-test case for planted bug(s) {', '.join(missing)}")
    return cases


def load_cases(known_bugs: Collection[str], path: Path | None = None) -> dict[str, SelfTestCase]:
    path = path if path is not None else _package_path(CASES_FILE_NAME)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise SelfTestCasesError(f"{path}: {error}") from error
    return parse_cases(data, str(path), known_bugs)


def scenario_reference(name: str) -> str:
    """What `load_scenario` takes for a case's scenario: the self-test's own file when there is one."""
    own = _package_path(SCENARIO_DIRECTORY_NAME) / f"{name}.toml"
    return str(own) if own.is_file() else name


def missing_requirements(
    case: SelfTestCase, available_fault_kinds: Collection[str], module_available: Callable[[str], bool]
) -> list[str]:
    """What this build lacks for the case, each as "needs ..." (empty: it can run)."""
    needs = [f"needs fault kind {kind}" for kind in case.fault_kinds if kind not in available_fault_kinds]
    needs += [f"needs module {module}" for module in case.modules if not module_available(module)]
    return needs


def select_cases(cases: Mapping[str, SelfTestCase], names: Iterable[str]) -> list[SelfTestCase]:
    """The named cases in the order given (all of them, in file order, when none is named)."""
    chosen = list(dict.fromkeys(names)) or list(cases)
    unknown = [name for name in chosen if name not in cases]
    if unknown:
        raise SelfTestCasesError(f"unknown planted bug(s) {', '.join(unknown)}; known: {', '.join(cases)}")
    return [cases[name] for name in chosen]


def _package_path(name: str) -> Path:
    return Path(str(resources.files("gameday").joinpath(name)))
