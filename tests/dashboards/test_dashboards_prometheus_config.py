from __future__ import annotations

from pathlib import Path

import pytest

from dashboards.alert_rules import RULES_PATH
from dashboards.prometheus_config import PrometheusConfigError, config_document, scrape_config
from tests.dashboards.conftest import PromtoolRunner, describe

TARGETS = {
    "canaries": ["127.0.0.1:9101", "127.0.0.1:9102", "127.0.0.1:9103"],
    "routers": ["127.0.0.1:8001"],
    "nodes": ["[::1]:7001", "node-a1:7002"],  # a Docker backend passes container names
    "chaos": [],
}


def test_promtool_accepts_the_config_with_the_shipped_rules(promtool: PromtoolRunner, tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(scrape_config(TARGETS, 1.0, [str(RULES_PATH)]), encoding="utf-8")
    result = promtool("check", "config", config)
    assert result.returncode == 0, describe(result)
    # promtool also loads the rule files the config names: the shipped rules go with it.
    assert "4 rules found" in result.stdout, describe(result)


def test_promtool_refuses_a_rule_file_that_is_not_there(promtool: PromtoolRunner, tmp_path: Path) -> None:
    # Shows the check above really reads rule_files: a config is only as good as its rules.
    config = tmp_path / "prometheus.yml"
    config.write_text(scrape_config(TARGETS, 1.0, [str(tmp_path / "missing.yml")]), encoding="utf-8")
    assert promtool("check", "config", config).returncode != 0


def test_every_job_and_target_and_the_interval_are_in_the_config() -> None:
    document = config_document(TARGETS, 2.5, ["rules.yml"])
    assert document["global"]["scrape_interval"] == "2500ms"
    assert document["global"]["evaluation_interval"] == "2500ms"
    assert document["rule_files"] == ["rules.yml"]
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in document["scrape_configs"]}
    assert jobs == TARGETS


def test_text_reads_back_as_the_document() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML reads the text back; it comes with the bench extra")
    assert yaml.safe_load(scrape_config(TARGETS, 1.0, ["r.yml"])) == config_document(TARGETS, 1.0, ["r.yml"])


@pytest.mark.parametrize(
    ("targets", "fragment"),
    [
        ({"canaries": ["http://127.0.0.1:9101"]}, "no scheme"),
        ({"canaries": ["127.0.0.1"]}, "host:port"),
        ({"canaries": ["127.0.0.1:0"]}, "port 1-65535"),
        ({"canaries": ["127.0.0.1:70000"]}, "port 1-65535"),
        ({"canaries": ["127.0.0.1:9101/metrics"]}, "no path"),
        ({"canaries": ["127.0.0.1:9101", "127.0.0.1:9101"]}, "listed twice"),
        ({"canaries": "127.0.0.1:9101"}, "one string"),
        ({"bad job": ["127.0.0.1:9101"]}, "job name"),
    ],
)
def test_refuses_targets_prometheus_would_refuse_at_start(targets: dict, fragment: str) -> None:
    with pytest.raises(PrometheusConfigError, match=fragment):
        scrape_config(targets)
