"""The dynalite the API tests compare against (bench/dynalite_differential.py starts it; npm installs it on
first use), or a skip that says why it is missing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.dynalite_differential import DynaliteUnavailable, running_dynalite


@pytest.fixture(scope="module")
def dynalite_port() -> Iterator[int]:
    try:
        with running_dynalite() as port:
            yield port
    except DynaliteUnavailable as error:
        pytest.skip(f"dynalite unavailable: {error}")
