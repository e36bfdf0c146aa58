"""Binding load users to endpoints: parsing --endpoints and the round robin over them (pure)."""

from __future__ import annotations

from collections import Counter

import pytest

from loadgen.endpoints import Endpoint, EndpointAssigner, format_endpoints, parse_endpoints, rotated


def test_named_and_bare_endpoints_parse_and_round_trip() -> None:
    named = {"az-a": "http://127.0.0.1:8000", "az-b": "http://127.0.0.1:8001"}
    assert parse_endpoints(format_endpoints(named)) == (
        Endpoint("az-a", "http://127.0.0.1:8000"),
        Endpoint("az-b", "http://127.0.0.1:8001"),
    )
    # A bare URL is its own name (what --host alone used to mean).
    assert parse_endpoints("http://h:1, http://h:2") == (Endpoint("http://h:1", "http://h:1"), Endpoint("http://h:2", "http://h:2"))
    assert format_endpoints({"http://h:1": "http://h:1"}) == "http://h:1"


@pytest.mark.parametrize("text", ["", "az-a=", "az-a=h:1", "=http://h:1", "az-a=http://h:1,az-a=http://h:2"])
def test_malformed_or_duplicate_endpoints_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_endpoints(text)


def test_users_are_bound_round_robin_and_workers_start_their_round_at_their_index() -> None:
    alone = EndpointAssigner(3)
    assert [alone.next() for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    # Three workers with one user each (Locust numbers users per worker): one user per endpoint.
    assert sorted(EndpointAssigner(3, worker).next() for worker in range(3)) == [0, 1, 2]
    # Two workers with four users each over three endpoints: no endpoint left out, none takes more than 3.
    counts = Counter(assigner.next() for assigner in (EndpointAssigner(3, 0), EndpointAssigner(3, 1)) for _ in range(4))
    assert set(counts) == {0, 1, 2} and max(counts.values()) <= 3


def test_rotation_starts_a_second_load_elsewhere_and_keeps_every_endpoint() -> None:
    endpoints = {"az-a": "http://a", "az-b": "http://b", "az-c": "http://c"}
    assert list(rotated(endpoints, 1)) == ["az-b", "az-c", "az-a"]
    assert rotated(endpoints, 4) == rotated(endpoints, 1) and rotated(endpoints, 0) == endpoints
