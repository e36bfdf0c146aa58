"""Which router each load user talks to: every user bound to one endpoint, round robin over all of them.

A stale read from a deposed leader only shows when a write goes through one router and a read of the
same key through another that still routes to the old leader (DESIGN §5b, Jepsen binds each client to
one node). So the load is spread over every endpoint, and every user's keys are everyone's keys.

Pure: parsing and assignment; the locustfile builds one client per endpoint and asks here which one a
new user gets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoint:
    """A DynamoDB endpoint and the name recorded in the history (an AZ, or the URL itself)."""

    name: str
    url: str


def parse_endpoints(text: str) -> tuple[Endpoint, ...]:
    """``NAME=URL,NAME=URL`` or ``URL,URL`` (the URL is then its own name); names must be unique."""
    endpoints: list[Endpoint] = []
    for part in (part.strip() for part in text.split(",")):
        if not part:
            continue
        name, separator, url = part.partition("=")
        if not separator:
            name, url = part, part
        if not name or not url.startswith(("http://", "https://")):
            raise ValueError(f"expected NAME=URL or URL (http:// or https://), got {part!r} in {text!r}")
        endpoints.append(Endpoint(name, url))
    if not endpoints:
        raise ValueError(f"no endpoint in {text!r}")
    names = [endpoint.name for endpoint in endpoints]
    if len(set(names)) != len(names):
        raise ValueError(f"endpoint names must be unique, got {names}")
    return tuple(endpoints)


def format_endpoints(endpoints: Mapping[str, str]) -> str:
    """The ``--endpoints`` value for name → URL (the inverse of `parse_endpoints`)."""
    for name in endpoints:
        if "," in name or "=" in name:
            raise ValueError(f"an endpoint name cannot hold ',' or '=': {name!r}")
    return ",".join(url if name == url else f"{name}={url}" for name, url in endpoints.items())


def rotated(endpoints: Mapping[str, str], steps: int) -> dict[str, str]:
    """The same endpoints, starting `steps` further on: a second load's round starts elsewhere, so with
    few users two loads lean on different endpoints."""
    names = list(endpoints)
    if not names:
        return {}
    start = steps % len(names)
    return {name: endpoints[name] for name in names[start:] + names[:start]}


class EndpointAssigner:
    """Round robin over the endpoints, in the order users start.

    Locust workers each start their own users from 0, so worker `worker_index` starts its round at
    endpoint `worker_index`: with as many workers as endpoints and one user each, every endpoint gets one.
    """

    def __init__(self, endpoint_count: int, worker_index: int = 0) -> None:
        if endpoint_count < 1 or worker_index < 0:
            raise ValueError(f"need endpoint_count >= 1 and worker_index >= 0, got {endpoint_count} and {worker_index}")
        self._count = endpoint_count
        self._next = worker_index % endpoint_count

    def next(self) -> int:
        """The endpoint index of the next user to start."""
        index = self._next
        self._next = (index + 1) % self._count
        return index
