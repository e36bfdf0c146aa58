"""A token bucket (pure: the caller passes the time in).

Tokens accrue at `rate_per_s` up to `capacity`; a request is admitted when the bucket holds what it
costs. Over any window of w seconds a bucket admits at most rate * w + capacity (plus what was
deposited by hand): the bound the tests check.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenBucket:
    rate_per_s: float
    capacity: float
    tokens: float
    updated_s: float

    @classmethod
    def full(cls, rate_per_s: float, capacity: float, now_s: float) -> TokenBucket:
        return cls(rate_per_s, capacity, capacity, now_s)

    def refill(self, now_s: float) -> None:
        elapsed_s = now_s - self.updated_s
        if elapsed_s > 0:  # a clock that stepped back adds nothing (and takes nothing)
            if self.tokens < self.capacity:
                self.tokens = min(self.capacity, self.tokens + elapsed_s * self.rate_per_s)
            self.updated_s = now_s

    def available(self, now_s: float) -> float:
        self.refill(now_s)
        return self.tokens

    def try_take(self, amount: float, now_s: float) -> bool:
        """Takes `amount` if the bucket holds it; otherwise takes nothing."""
        self.refill(now_s)
        if self.tokens >= amount:
            self.tokens -= amount
            return True
        return False

    def charge(self, amount: float, now_s: float) -> None:
        """Takes `amount` unconditionally (a read's size, known only after it was served): the bucket
        may go into debt, at most one capacity deep, which later requests pay off."""
        self.refill(now_s)
        self.tokens = max(-self.capacity, self.tokens - amount)

    def deposit(self, amount: float) -> None:
        """Adds tokens granted from elsewhere (GAC), never above capacity."""
        self.tokens = min(self.capacity, self.tokens + max(0.0, amount))

    def resize(self, rate_per_s: float, capacity: float, now_s: float) -> None:
        self.refill(now_s)
        self.rate_per_s = rate_per_s
        self.capacity = capacity
        self.tokens = min(self.tokens, capacity)
