import pytest

from cluster.core.config import RaftConfig


def test_defaults_are_valid() -> None:
    config = RaftConfig()
    assert config.lease_ticks < config.election_ticks_min < config.election_ticks_max


@pytest.mark.parametrize(
    "overrides",
    [
        {"lease_ticks": 10},
        {"lease_ticks": 0},
        {"election_ticks_max": 10},
        {"election_ticks_min": 0},
        {"heartbeat_ticks": 10},
        {"heartbeat_ticks": 0},
        {"max_entries_per_append": 0},
        {"max_bytes_per_append": 0},
        {"max_inflight_appends": 0},
    ],
)
def test_inconsistent_settings_are_rejected(overrides: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        RaftConfig(**overrides)  # type: ignore[arg-type]
