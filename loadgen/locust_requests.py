"""One recorded operation as one entry of Locust's own statistics (ours and a user locustfile's alike)."""

from __future__ import annotations

from typing import Any

from loadgen.recording import CompletedOperation


class OperationNotOk(Exception):
    """What Locust's failure table shows for a fail or info outcome (grouped by this message)."""


def fire_request(request_event: Any, completed: CompletedOperation, request_type: str, name: str) -> None:
    """`request_event`: Locust's `events.request` hook; failures are named by their cause."""
    exception = None
    if completed.outcome != "ok":
        described = completed.failure.describe() if completed.failure else "unknown"
        exception = OperationNotOk(f"{completed.outcome}: {described}")
    request_event.fire(
        request_type=request_type,
        name=name,
        response_time=completed.duration_s * 1000.0,
        response_length=0,
        exception=exception,
        context={"process": completed.process, "outcome": completed.outcome},
    )
