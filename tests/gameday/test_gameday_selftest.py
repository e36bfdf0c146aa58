"""`gameday selftest`'s pure parts: the cases file, the plan, the classification of each game day, the
exit code, and the table / JSON / JUnit renderings. No game day runs here (test_gameday_planted_bugs.py
runs the real ones)."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest

from chaos.faults.kinds import FAULT_KINDS
from cluster.runtime.planted_bugs import PLANTED_BUGS
from gameday.cli import build_parser
from gameday.scenario import load_scenario
from gameday.selftest import PlannedRun, build_lacks, control_seeds, plan_runs, records_from_report
from gameday.selftest_cases import (
    SelfTestCase,
    SelfTestCasesError,
    load_cases,
    missing_requirements,
    parse_cases,
    scenario_reference,
    select_cases,
)
from gameday.selftest_report import junit_xml, render_table, verdict_json
from gameday.selftest_verdict import (
    CAUGHT,
    ESCAPED,
    FALSE_ALARM,
    NOT_JUDGED,
    OTHER,
    PASSED,
    SKIPPED,
    UNKNOWN,
    RunRecord,
    classify,
    judge,
)

EXPECTED = {"ack-before-quorum": ("linearizability",), "skip-fsync": ("sets", "linearizability")}


def _bug_run(bug: str, seed: int, code: int | None, failed: tuple[str, ...] = (), **extra: object) -> RunRecord:
    ran = ("linearizability", "sets", "alarms", "cluster-healthy")
    return RunRecord(bug, "s", seed, code, failed, ran, **extra)  # type: ignore[arg-type]


def _control(seed: int, code: int, failed: tuple[str, ...] = ()) -> RunRecord:
    return RunRecord(None, "s", seed, code, failed, ("linearizability", "alarms"))


# ---- the cases file --------------------------------------------------------------------------------


def test_the_shipped_cases_cover_every_planted_bug_and_their_own_scenarios_load() -> None:
    cases = load_cases(PLANTED_BUGS)
    assert sorted(cases) == sorted(PLANTED_BUGS)
    for case in cases.values():
        reference = scenario_reference(case.scenario)
        if reference != case.scenario:  # the self-test's own scenarios must always load
            assert load_scenario(reference).name == case.scenario


def test_a_case_for_an_unknown_bug_or_a_bug_without_a_case_is_refused() -> None:
    good = {"scenario": "smoke", "caught_by": ["linearizability"]}
    with pytest.raises(SelfTestCasesError, match="bugs.nope: not a planted bug"):
        parse_cases({"bugs": {"a": good, "nope": good}}, "f.toml", ["a"])
    with pytest.raises(SelfTestCasesError, match="no self-test case for planted bug.* b"):
        parse_cases({"bugs": {"a": good}}, "f.toml", ["a", "b"])
    with pytest.raises(SelfTestCasesError, match="bugs.a.caught_by"):
        parse_cases({"bugs": {"a": {"scenario": "smoke", "caught_by": []}}}, "f.toml", ["a"])
    with pytest.raises(SelfTestCasesError, match="bugs.a.verifier: unknown key"):
        parse_cases({"bugs": {"a": {**good, "verifier": "x"}}}, "f.toml", ["a"])


def test_what_a_build_lacks_is_named_kind_by_kind_and_module_by_module() -> None:
    case = SelfTestCase("b", "torture", ("linearizability",), ("leader-churn", "power-off"), ("chaos.lazyfs",))
    assert missing_requirements(case, {"power-off"}, lambda module: False) == [
        "needs fault kind leader-churn", "needs module chaos.lazyfs",
    ]  # fmt: skip
    assert missing_requirements(case, {"power-off", "leader-churn"}, lambda module: True) == []


def test_a_case_whose_scenario_does_not_exist_is_skipped_saying_so() -> None:
    lacks = build_lacks(None)
    case = SelfTestCase("b", "no-such-scenario", ("linearizability",))
    assert lacks(case, case.scenario)[0].startswith("needs scenario no-such-scenario")
    assert lacks(SelfTestCase("b", "planted-kill-leader", ("linearizability",)), "planted-kill-leader") == []


def test_a_scenario_override_drops_the_cases_fault_kinds_but_not_its_modules() -> None:
    case = SelfTestCase("b", "torture", ("linearizability",), ("no-such-kind",), ("json",))
    assert build_lacks("planted-kill-leader")(case, "planted-kill-leader") == []
    assert build_lacks(None)(case, "torture") == ["needs fault kind no-such-kind"]
    assert "no-such-kind" not in FAULT_KINDS


def test_selecting_bugs_keeps_the_order_given_and_refuses_unknown_names() -> None:
    cases = load_cases(PLANTED_BUGS)
    assert [case.bug for case in select_cases(cases, ["skip-fsync", "ack-before-quorum", "skip-fsync"])] == [
        "skip-fsync", "ack-before-quorum",
    ]  # fmt: skip
    with pytest.raises(SelfTestCasesError, match="unknown planted bug"):
        select_cases(cases, ["skip-fsync", "nope"])


# ---- the plan ---------------------------------------------------------------------------------------


def test_the_plan_runs_every_bug_on_every_seed_then_controls_per_scenario_on_the_same_seeds() -> None:
    cases = [
        SelfTestCase("a", "one", ("linearizability",)),
        SelfTestCase("b", "two", ("sets",)),
        SelfTestCase("c", "one", ("linearizability",)),
        SelfTestCase("d", "three", ("x",), ("leader-churn",)),
    ]
    plan = plan_runs(cases, [5, 6], 1, lambda case, scenario: ["needs fault kind leader-churn"] if case.fault_kinds else [])
    assert plan == [
        PlannedRun("a", "one", 5), PlannedRun("a", "one", 6),
        PlannedRun("b", "two", 5), PlannedRun("b", "two", 6),
        PlannedRun("c", "one", 5), PlannedRun("c", "one", 6),
        PlannedRun("d", "three", 5, "needs fault kind leader-churn"),
        PlannedRun(None, "one", 5), PlannedRun(None, "two", 5),
    ]  # fmt: skip
    assert plan[-1].name == "control-two-seed5"


def test_an_override_runs_every_bug_and_the_controls_on_that_scenario() -> None:
    cases = [SelfTestCase("a", "one", ("l",)), SelfTestCase("b", "two", ("l",))]
    plan = plan_runs(cases, [1], 2, lambda case, scenario: [], scenario_override="/tmp/x.toml")
    assert {run.scenario for run in plan} == {"/tmp/x.toml"}
    assert [(run.bug, run.seed) for run in plan] == [("a", 1), ("b", 1), (None, 1), (None, 2)]
    assert plan[0].name == "a-x-seed1"


def test_control_seeds_follow_the_bug_seeds_and_continue_past_them() -> None:
    assert control_seeds([3, 7], 1) == [3]
    assert control_seeds([3, 7], 4) == [3, 7, 8, 9]
    assert control_seeds([3], 0) == []
    with pytest.raises(ValueError):
        plan_runs([SelfTestCase("a", "one", ("l",))], [], 1, lambda case, scenario: [])


# ---- classification and exit code --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("run", "outcome"),
    [
        (_bug_run("ack-before-quorum", 1, 1, ("linearizability",)), CAUGHT),
        (_bug_run("ack-before-quorum", 1, 1, ("alarms",)), OTHER),  # an alarm is no proof the data check works
        (_bug_run("ack-before-quorum", 1, 0), ESCAPED),
        (_bug_run("ack-before-quorum", 1, 2), UNKNOWN),
        (_bug_run("ack-before-quorum", 1, None, skip_reason="needs x"), SKIPPED),
        (RunRecord("eager-step-down", "smoke", 1, 0, (), ("alarms",)), NOT_JUDGED),  # its verifier never ran
        (_control(1, 0), PASSED),
        (_control(1, 1, ("alarms",)), FALSE_ALARM),
        (_control(1, 2), UNKNOWN),
    ],
)
def test_each_game_day_is_classified(run: RunRecord, outcome: str) -> None:
    expected = {"eager-step-down": ("availability-regression",)}.get(run.bug or "", ("linearizability",))
    assert classify(run, expected) == outcome


def test_every_bug_caught_everywhere_and_quiet_controls_pass() -> None:
    verdict = judge(
        [
            _bug_run("ack-before-quorum", 1, 1, ("linearizability", "alarms")),
            _bug_run("ack-before-quorum", 2, 1, ("linearizability",)),
            _bug_run("skip-fsync", 1, 1, ("sets",)),
            _bug_run("skip-fsync", 2, 1, ("linearizability", "sets")),
            _control(1, 0),
        ],
        EXPECTED,
        1.0,
    )
    assert verdict.exit_code == 0
    assert [(bug.bug, bug.caught, bug.judged) for bug in verdict.bugs] == [("ack-before-quorum", 2, 2), ("skip-fsync", 2, 2)]
    assert verdict.bugs[0].runs[0].caught_by == ("linearizability",)  # only the expected verifier is credited


def test_one_escape_fails_the_self_test_unless_the_minimum_detection_allows_it() -> None:
    runs = [_bug_run("ack-before-quorum", seed, 1, ("linearizability",)) for seed in (1, 2, 3)]
    runs.append(_bug_run("ack-before-quorum", 4, 0))
    strict = judge(runs, EXPECTED, 1.0)
    assert strict.exit_code == 1 and "caught in 3 of 4 runs" in strict.reasons[0]
    lenient = judge(runs, EXPECTED, 0.75)
    assert lenient.exit_code == 0 and lenient.reasons == ("every bug caught in at least 75% of its runs, no false alarm",)
    assert judge(runs, EXPECTED, 0.8).exit_code == 1


def test_a_false_alarm_fails_the_self_test_even_when_every_bug_was_caught() -> None:
    verdict = judge([_bug_run("ack-before-quorum", 1, 1, ("linearizability",)), _control(1, 1, ("alarms",))], EXPECTED, 1.0)
    assert verdict.exit_code == 1 and "false alarm" in verdict.reasons[0] and "alarms" in verdict.reasons[0]


@pytest.mark.parametrize(
    "runs",
    [
        [_bug_run("skip-fsync", 1, None, skip_reason="needs module chaos.lazyfs")],
        [_bug_run("ack-before-quorum", 1, 1, ("linearizability",)), _bug_run("ack-before-quorum", 2, 2)],
        [_bug_run("ack-before-quorum", 1, 1, ("linearizability",)), _control(1, 2)],
        [],
    ],
)
def test_what_could_not_be_decided_is_exit_2_never_0(runs: list[RunRecord]) -> None:
    assert judge(runs, EXPECTED, 1.0).exit_code == 2


def test_an_interrupted_self_test_never_passes_and_an_escape_still_fails_it() -> None:
    caught = _bug_run("ack-before-quorum", 1, 1, ("linearizability",))
    assert judge([caught], EXPECTED, 1.0, interrupted=True).exit_code == 2
    assert judge([caught, _bug_run("ack-before-quorum", 2, 0)], EXPECTED, 1.0, interrupted=True).exit_code == 1


# ---- renderings -------------------------------------------------------------------------------------


def _mixed_verdict():  # noqa: ANN202 - a SelfTestVerdict
    return judge(
        [
            _bug_run("ack-before-quorum", 1, 1, ("linearizability",)),
            _bug_run("ack-before-quorum", 2, 0),
            _bug_run("skip-fsync", 1, None, skip_reason="needs module chaos.lazyfs"),
            _control(1, 0),
            _control(2, 1, ("alarms",)),
        ],
        EXPECTED,
        1.0,
        notes={"skip-fsync": "only the FUSE layer sees it"},
    )


def test_the_table_shows_bug_by_seed_the_skips_the_controls_and_the_verdict() -> None:
    lines = render_table(_mixed_verdict()).splitlines()
    assert lines[0].split() == ["planted", "bug", "scenario", "seed", "1", "seed", "2", "detected"]
    ack = next(line for line in lines if line.startswith("ack-before-quorum"))
    assert "caught: linearizability" in ack and "ESCAPED" in ack and ack.endswith("1/2")
    assert ack.index("caught") < ack.index("ESCAPED")  # seed 1 left of seed 2
    assert "skipped: needs module chaos.lazyfs" in next(line for line in lines if line.startswith("skip-fsync"))
    control = next(line for line in lines if line.startswith("(control)"))
    assert "ok" in control and "FALSE ALARM: alarms" in control and control.endswith("1 false")
    assert "skip-fsync: only the FUSE layer sees it" in lines[-3]
    assert lines[-1].startswith("selftest: FAILED (exit 1)")


def test_json_and_junit_carry_the_same_outcomes() -> None:
    verdict = _mixed_verdict()
    data = json.loads(json.dumps(verdict_json(verdict)))
    assert data["exit_code"] == 1
    ack = data["bugs"][0]
    assert (ack["bug"], ack["caught"], ack["judged"], ack["detection"]) == ("ack-before-quorum", 1, 2, 0.5)
    assert [run["outcome"] for run in ack["runs"]] == [CAUGHT, ESCAPED]
    assert data["bugs"][1]["skipped"] == "needs module chaos.lazyfs"
    assert [run["outcome"] for run in data["controls"]] == [PASSED, FALSE_ALARM]
    suite = ElementTree.fromstring(junit_xml(verdict))
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped"), suite.get("errors")) == ("5", "2", "1", "0")
    failing = {case.get("classname") + " " + case.get("name") for case in suite if case.find("failure") is not None}
    assert failing == {"selftest.ack-before-quorum s seed 2", "selftest.control.s seed 2"}


def test_the_cli_knows_selftest_and_its_options() -> None:
    args = build_parser().parse_args(
        ["selftest", "--bugs", "skip-fsync,ack-before-quorum", "--seed", "4", "--seed", "9", "--controls", "2",
         "--min-detection", "0.9", "--scenario", "smoke"]
    )  # fmt: skip
    assert (args.bugs, args.seed, args.controls, args.min_detection, args.scenario) == (
        ["skip-fsync,ack-before-quorum"], [4, 9], 2, 0.9, "smoke",
    )  # fmt: skip
    with pytest.raises(SystemExit):
        build_parser().parse_args(["selftest", "--seeds", "3", "--seed", "1"])


def test_an_earlier_self_test_is_judged_again_from_its_run_summaries(tmp_path: Path) -> None:
    # Two real run directories as game days leave them (summary.json), and the self-test's own report.
    for name, verifiers in (("bug", [("linearizability", True), ("scrub", False)]), ("control", [("scrub", True)])):
        (tmp_path / name).mkdir()
        summary = {"verifiers": [{"name": v, "valid": ok} for v, ok in verifiers], "errors": []}
        (tmp_path / name / "summary.json").write_text(json.dumps(summary))
    first = judge(
        [
            RunRecord("skip-fsync", "planted-power-off", 1, 1, ("scrub",), ("linearizability", "scrub"), str(tmp_path / "bug")),
            RunRecord(None, "planted-power-off", 1, 0, (), ("scrub",), str(tmp_path / "control")),
            RunRecord("no-dir-fsync", "planted-power-off", 1, None, skip_reason="needs module chaos.lazyfs"),
        ],
        {"skip-fsync": ("sets",)},  # an older mapping: scrub did not count yet
        1.0,
    )
    assert first.bugs[0].runs[0].outcome == OTHER
    again = judge(records_from_report(verdict_json(first)), {"skip-fsync": ("sets", "scrub")}, 1.0)
    assert again.bugs[0].runs[0].outcome == CAUGHT and again.bugs[0].runs[0].caught_by == ("scrub",)
    assert again.bugs[1].skip_reason == "needs module chaos.lazyfs"
    assert [run.outcome for run in again.controls] == [PASSED]


def test_the_cli_lists_the_plan_and_refuses_unknown_bugs(capsys: pytest.CaptureFixture[str]) -> None:
    from gameday.cli import main

    assert main(["selftest", "--list", "--bugs", "ack-before-quorum,churn-commit-bug", "--seeds", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:4] for line in lines[:2]] == [
        ["ack-before-quorum", "planted-kill-leader", "seed", seed] for seed in ("1", "2")
    ]
    if "leader-churn" not in FAULT_KINDS:  # until the leader-churn fault lands, the bug is skipped, saying why
        assert "SKIP: needs fault kind leader-churn" in lines[2]
    # One control per scenario the chosen bugs use (torture too, once the leader-churn kind is there).
    controls = {line.split()[1] for line in lines if line.startswith("control")}
    assert "planted-kill-leader" in controls
    assert ("torture" in controls) == ("leader-churn" in FAULT_KINDS)
    assert main(["selftest", "--list", "--bugs", "nope"]) == 2
    assert "unknown planted bug(s) nope" in capsys.readouterr().err
