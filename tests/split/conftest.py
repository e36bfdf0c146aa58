"""Real local clusters for the split tests (the fixtures of tests/cluster)."""

from tests.cluster.conftest import fresh_cluster  # noqa: F401 - a fixture, used by name
