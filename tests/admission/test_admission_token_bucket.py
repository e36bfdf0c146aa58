"""The token bucket: refill, refusal takes nothing, debt, and the rate * window + capacity bound."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.admission.token_bucket import TokenBucket


def test_refills_at_its_rate_up_to_capacity() -> None:
    bucket = TokenBucket.full(10.0, 20.0, now_s=0.0)
    assert bucket.try_take(20.0, 0.0)
    assert not bucket.try_take(1.0, 0.0)
    assert bucket.available(0.5) == 5.0
    assert bucket.available(100.0) == 20.0


def test_a_refusal_takes_nothing() -> None:
    bucket = TokenBucket.full(1.0, 3.0, now_s=0.0)
    assert not bucket.try_take(4.0, 0.0)
    assert bucket.available(0.0) == 3.0


def test_a_clock_stepping_back_adds_nothing() -> None:
    bucket = TokenBucket.full(10.0, 10.0, now_s=5.0)
    assert bucket.try_take(10.0, 5.0)
    assert bucket.available(1.0) == 0.0
    assert bucket.available(5.5) == 5.0


def test_charges_may_run_into_debt_at_most_one_capacity_deep() -> None:
    bucket = TokenBucket.full(1.0, 2.0, now_s=0.0)
    bucket.charge(10.0, 0.0)
    assert bucket.available(0.0) == -2.0
    assert not bucket.try_take(1.0, 2.5)
    assert bucket.try_take(1.0, 3.0)


def test_deposits_never_exceed_capacity_and_resize_keeps_tokens_within_it() -> None:
    bucket = TokenBucket(0.0, 5.0, 0.0, 0.0)
    bucket.deposit(3.0)
    bucket.deposit(-7.0)
    assert bucket.tokens == 3.0
    bucket.deposit(30.0)
    assert bucket.tokens == 5.0
    bucket.resize(1.0, 2.0, 0.0)
    assert bucket.tokens == 2.0 and bucket.available(10.0) == 2.0


@settings(max_examples=300, deadline=None)
@given(
    rate=st.floats(min_value=0.1, max_value=1000.0),
    capacity=st.floats(min_value=0.0, max_value=500.0),
    requests=st.lists(
        st.tuples(st.floats(min_value=0.0, max_value=2.0), st.floats(min_value=0.01, max_value=50.0)),
        min_size=1,
        max_size=200,
    ),
    window=st.data(),
)
def test_admitted_units_over_any_window_never_exceed_rate_times_window_plus_capacity(
    rate: float, capacity: float, requests: list[tuple[float, float]], window: st.DataObject
) -> None:
    bucket = TokenBucket.full(rate, capacity, now_s=0.0)
    now_s = 0.0
    admitted: list[tuple[float, float]] = []
    for gap_s, units in requests:
        now_s += gap_s
        if bucket.try_take(units, now_s):
            admitted.append((now_s, units))
    if not admitted:
        return
    first = window.draw(st.integers(min_value=0, max_value=len(admitted) - 1))
    last = window.draw(st.integers(min_value=first, max_value=len(admitted) - 1))
    start_s, end_s = admitted[first][0], admitted[last][0]
    total = sum(units for _, units in admitted[first : last + 1])
    assert total <= rate * (end_s - start_s) + capacity + 1e-6 * max(1.0, total)
