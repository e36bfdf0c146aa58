"""Linearizability of one register in O(n log n) when every written value is unique.

Our load generator never writes the same value twice (writes and the new values of cas are
fresh), and with unique values the register is tractable (Gibbons & Korach, "Testing shared
memories", 1997): the value a read returns names the one operation it read from, so a
linearization is only an order of *clusters*, one per value. This module decides that order
exactly, or declines (returns None) so the caller falls back to the exhaustive search.

Preconditions (otherwise None): every write value and cas new value is hashable, equal to itself,
different from the initial state, and produced by at most one operation that may take effect (ok,
info or open; a `fail` did not take effect and is already dropped by the caller).

The decision, for operations that may take effect (`relevant_register_operations`):

1. Which operations take effect. Ok operations must. An info/open write or cas whose value some
   taking-effect operation observes (a read returns it, a cas expects it) must too: it is the
   only way that value can appear. Any other info/open operation can be dropped from any valid
   linearization without changing what anyone observes (nothing reads its value before the next
   write), so deciding without it is exact. An observed value nobody produces (and that is not
   the initial state) is a proof of invalidity.
2. Clusters. Cluster(v) = the producer of v (none for the initial state) followed by the reads of
   v. With unique values the state sequence never revisits a value, so each cluster is contiguous
   in any linearization, its producer first. An ok cas [e, n] ends cluster(e) and begins
   cluster(n), gluing them into a chain; two cas expecting the same e, or a cycle of cas, cannot
   be linearized.
3. Order. Chains are contiguous; chain X may precede chain Y iff no operation of Y completes
   before an operation of X is invoked: max_invoke(X) < min_complete(Y). Some total order
   satisfies every pair iff the order by max_invoke + min_complete does (if X must follow Y then
   max_invoke(X) > min_complete(Y) and, for any valid order to exist, max_invoke(Y) <
   min_complete(X); adding gives a strictly larger key for X). The initial state's chain is first.

Positions (the events' places in the file) are the clock: they are distinct, so there are no ties
between an invoke and a completion. Info and open operations complete at +infinity.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any

from verify.operations import OK, Operation

_NEVER = math.inf  # completion position of info and open operations: any time after their invoke


def decide_with_unique_values(relevant: Sequence[Operation], initial_state: Hashable = None) -> bool | None:
    """True/False when the preconditions hold; None when they do not (use the exact search).

    `relevant` is the output of `relevant_register_operations`: no fail operations, only ok reads.
    """
    try:
        return _decide(relevant, initial_state)
    except (TypeError, IndexError):
        return None  # an unhashable value or a malformed cas value: leave it to the exact search


def _decide(relevant: Sequence[Operation], initial_state: Any) -> bool | None:
    count = len(relevant)
    produced: list[Any] = [None] * count  # the value each write/cas leaves behind
    observed: list[Any] = [None] * count  # the value each read/cas needs to see
    observes = [False] * count
    producer_of: dict[Any, int] = {}
    for index, operation in enumerate(relevant):
        function = operation.function
        if function == "read":
            observed[index] = operation.output_value
            observes[index] = True
            continue
        if function == "write":
            new_value = operation.input_value
        else:
            # Indexed like the exact search does, so both read a cas value the same way.
            observed[index] = operation.input_value[0]
            new_value = operation.input_value[1]
            observes[index] = True
        # A value unequal to itself (NaN) or equal to the initial state would break the
        # one-value-one-producer reasoning below; so would a second producer of the same value.
        if new_value != new_value or new_value == initial_state or new_value in producer_of:
            return None
        producer_of[new_value] = index
        produced[index] = new_value

    # 1. Operations that take effect: ok ones, and (transitively) the producers of what they observe.
    takes_effect = [operation.outcome == OK for operation in relevant]
    to_visit = [index for index in range(count) if takes_effect[index]]
    while to_visit:
        index = to_visit.pop()
        if not observes[index]:
            continue
        value = observed[index]
        if value == initial_state:
            continue
        producer = producer_of.get(value)
        if producer is None:
            return False  # it needs a state that no operation can ever create
        if not takes_effect[producer]:
            takes_effect[producer] = True
            to_visit.append(producer)

    # 2. Clusters: 0 is the initial state's, then one per produced value that takes effect.
    cluster_of_value: dict[Any, int] = {}
    max_invoke: list[float] = [-_NEVER]
    min_complete: list[float] = [_NEVER]
    producer_invoke: list[float] = [-_NEVER]
    min_read_complete: list[float] = [_NEVER]
    for index, operation in enumerate(relevant):
        if takes_effect[index] and operation.function != "read":
            cluster_of_value[produced[index]] = len(max_invoke)
            max_invoke.append(operation.invoke_position)
            complete = _complete_position(operation)
            min_complete.append(complete)
            producer_invoke.append(operation.invoke_position)
            min_read_complete.append(_NEVER)
    cluster_count = len(max_invoke)
    successor = [-1] * cluster_count
    has_predecessor = [False] * cluster_count
    for index, operation in enumerate(relevant):
        if not takes_effect[index] or not observes[index]:
            continue
        value = observed[index]
        observed_cluster = 0 if value == initial_state else cluster_of_value[value]
        if operation.function == "read":
            complete = _complete_position(operation)
            if operation.invoke_position > max_invoke[observed_cluster]:
                max_invoke[observed_cluster] = operation.invoke_position
            if complete < min_complete[observed_cluster]:
                min_complete[observed_cluster] = complete
            if complete < min_read_complete[observed_cluster]:
                min_read_complete[observed_cluster] = complete
            continue
        # A cas that takes effect ends the cluster it observes and starts its own, immediately.
        if successor[observed_cluster] != -1:
            return False  # two cas swapped away the same value, which is written only once
        own_cluster = cluster_of_value[produced[index]]
        successor[observed_cluster] = own_cluster
        has_predecessor[own_cluster] = True
    for cluster in range(1, cluster_count):
        if min_read_complete[cluster] < producer_invoke[cluster]:
            return False  # a read of the value finished before its only writer started

    # Chains, each as (max_invoke, min_complete) once its internal order is checked.
    chains: list[tuple[float, float]] = []
    visited = [False] * cluster_count
    for head in range(cluster_count):
        if has_predecessor[head]:
            continue
        chain_max_invoke, chain_min_complete = -_NEVER, _NEVER
        cluster = head
        while cluster != -1:
            visited[cluster] = True
            if chain_max_invoke > min_complete[cluster]:
                return False  # something of this cluster completed before an earlier one began
            chain_max_invoke = max(chain_max_invoke, max_invoke[cluster])
            chain_min_complete = min(chain_min_complete, min_complete[cluster])
            cluster = successor[cluster]
        chains.append((chain_max_invoke, chain_min_complete))
    if not all(visited):
        return False  # a cycle of cas, each needing the value another one creates

    # 3. Order: the initial state's chain (cluster 0 is always a head) first, the rest by key.
    initial_chain, *other_chains = chains
    other_chains.sort(key=lambda chain: chain[0] + chain[1])
    latest_invoke = initial_chain[0]
    for chain_max_invoke, chain_min_complete in other_chains:
        if latest_invoke > chain_min_complete:
            return False
        latest_invoke = max(latest_invoke, chain_max_invoke)
    return True


def _complete_position(operation: Operation) -> float:
    return _NEVER if operation.complete_position is None else operation.complete_position
