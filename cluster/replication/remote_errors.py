"""How replica hosts report replication outcomes over RPC, and how callers read them back.

The distinction matters to the client's history: NotLeader and Lost mean the command certainly did
not take effect (safe to retry elsewhere); Unknown means it may have.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from cluster.core.replica import NotLeaderError
from cluster.replication.group_runner import ProposalLost, ProposalOutcomeUnknown
from cluster.runtime.rpc import RpcError

NOT_LEADER = "NotLeader"
NO_SUCH_GROUP = "NoSuchGroup"
OUTCOME_UNKNOWN = "OutcomeUnknown"
LOST = "Lost"
# The group no longer owns the request's hash (a split moved it): look the table up again and retry.
MOVED = "Moved"
# Admission control refused the request before any work (cluster/admission/partition_admission.py):
# it certainly did not execute; the router answers ProvisionedThroughputExceeded and does not retry.
THROTTLED = "Throttled"

T = TypeVar("T")


async def as_rpc_errors(work: Awaitable[T]) -> T:
    """Runs `work`, translating replication exceptions into RpcErrors callers can classify."""
    try:
        return await work
    except NotLeaderError as error:
        raise RpcError(NOT_LEADER, "not the leader", {"leader": error.leader_hint}) from error
    except ProposalLost as error:
        raise RpcError(LOST, str(error)) from error
    except (TimeoutError, ProposalOutcomeUnknown) as error:
        raise RpcError(OUTCOME_UNKNOWN, str(error) or "timed out") from error


def not_leader(hint: str | None) -> RpcError:
    return RpcError(NOT_LEADER, "not the leader", {"leader": hint})


def leader_hint_of(error: RpcError) -> Any:
    return error.data.get("leader") if error.code == NOT_LEADER else None
