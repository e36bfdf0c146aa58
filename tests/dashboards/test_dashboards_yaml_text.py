from __future__ import annotations

import pytest

from dashboards.yaml_text import YamlTextError, duration, to_yaml

yaml = pytest.importorskip("yaml", reason="PyYAML reads the text back; it comes with the bench extra")


def test_round_trips_strings_yaml_would_otherwise_reinterpret() -> None:
    document = {
        "on": "off",
        "yes": ["no", "null", "1e3", "0x10", "~", "", "#not a comment", "a: b", "- item", "{x}", "é → ü"],
        "numbers": [0, -1, 2.5, 1e-9, 1e20, -3e-7, True, False, None],
        "empty": {"list": [], "map": {}},
        "nested": [{"a": 1, "b": [{"c": "d"}]}, [1, [2, 3]]],
        "9starts_with_digit": 1,
    }
    assert yaml.safe_load(to_yaml(document)) == document


@pytest.mark.parametrize(
    "text",
    [
        'sum by (az) (rate(x{a="b"}[10s]))\n  /\nsum(y)',  # an indented middle line stays indented
        "first\n\nafter a blank line",
        " leading space\nsecond",  # cannot be a literal block: written as a JSON string
        "trailing newline\n",
        "tab\tinside\nline",
    ],
)
def test_round_trips_multi_line_strings(text: str) -> None:
    document = {"groups": [{"expr": text}], "expr": text}
    assert yaml.safe_load(to_yaml(document)) == document


def test_header_becomes_comments() -> None:
    text = to_yaml({"a": 1}, "line one\nline two")
    assert text.splitlines()[:2] == ["# line one", "# line two"]
    assert yaml.safe_load(text) == {"a": 1}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), object(), {1: "a"}])
def test_refuses_what_it_cannot_write_faithfully(value: object) -> None:
    with pytest.raises(YamlTextError):
        to_yaml({"value": value})


@pytest.mark.parametrize(("seconds", "text"), [(10, "10s"), (1.0, "1s"), (1.5, "1500ms"), (0.25, "250ms")])
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


@pytest.mark.parametrize("seconds", [0, -1, 0.0001, float("nan")])
def test_duration_refuses_what_prometheus_cannot_express(seconds: float) -> None:
    with pytest.raises(YamlTextError):
        duration(seconds)
