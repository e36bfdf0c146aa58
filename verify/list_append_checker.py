"""Transactional list-append histories judged for Adya's anomalies, as Elle does (VLDB 2020). Pure.

A `txn` operation's value is a list of micro-operations (DESIGN §4): `["append", k, e]` appends the
element e, unique in the whole history, to the list at key k; `["r", k, null]` reads that list, and on
`ok` carries the list it saw. Lists only grow and every element is unique, so a read names exactly the
version of k it saw, and the longest read of k gives k's *version order*: every other read of k must be
a prefix of it. From that order, dependencies between the transactions that committed (ok, or info
with an append some read saw):

- ww  T1 -> T2: in k's version order, the element T2 appended comes right after T1's;
- wr  T1 -> T2: T2 read a version of k whose last element T1 appended;
- rw  T1 -> T2: T1 read a version of k, and T2 appended the element that follows it (T1 missed T2).

Anomalies, each with a witness a person can check:

- G1a (aborted read): a read saw an element whose transaction failed;
- G1b (intermediate read): a read's last element is not the last its writer appended to that key;
- incompatible-order: two reads of one key, neither a prefix of the other;
- duplicate-elements: a read saw one element twice; unknown-element: an element nobody appended;
- internal: a transaction's read that does not end with what that transaction appended before it;
- G0: a cycle of ww edges; G1c: a cycle of ww and wr edges with at least one wr;
- G-single: a cycle with exactly one rw edge; G2: a cycle with more than one.

Cycles are searched within strongly connected components only, so an acyclic (valid) history costs
one pass over its edges. The classifying searches are budgeted (`max_steps`): past it, a component
is still reported as a cycle (it is one), only its class is left `unknown`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from verify.operations import FAIL, OK, Operation

TXN = "txn"
APPEND = "append"
READ = "r"
WW, WR, RW = "ww", "wr", "rw"
CYCLE_CLASSES = ("G0", "G1c", "G-single", "G2")
DEFAULT_MAX_STEPS = 2_000_000


class ListAppendModelMismatchError(ValueError):
    """The history holds an operation that is no list-append transaction, or a malformed one."""


@dataclass(frozen=True)
class Edge:
    source: int  # transaction numbers (positions in `ListAppendResult.transactions`)
    target: int
    kind: str  # WW, WR or RW
    key: Hashable
    element: Any  # the element that makes the dependency (see the module docstring)


@dataclass
class Anomaly:
    kind: str
    explanation: str
    transactions: tuple[int, ...]
    cycle: tuple[Edge, ...] = ()


@dataclass
class ListAppendResult:
    validity: bool | str  # True, False or "unknown"
    transactions: list[Operation]
    anomalies: dict[str, list[Anomaly]] = field(default_factory=dict)  # the first few of each kind
    anomaly_counts: dict[str, int] = field(default_factory=dict)  # how many of each kind were found
    committed_count: int = 0
    key_count: int = 0
    unknown_reason: str | None = None

    def describe(self, number: int) -> str:
        operation = self.transactions[number]
        micro = operation.output_value if operation.outcome == OK else operation.input_value
        return f"T{number} (p{operation.process}, line {operation.invoke_line_number}, {operation.outcome}): {_show(micro)}"


def _show(micro_operations: Any) -> str:
    parts = []
    for micro in micro_operations or ():
        function, key, value = micro
        parts.append(f"{function} {key} {list(value) if isinstance(value, tuple) else value}".replace("None", "nil"))
    return "[" + ", ".join(parts) + "]"


@dataclass
class _Txn:
    appends: dict[Hashable, list[Any]] = field(default_factory=dict)  # key -> elements, in order
    reads: list[tuple[Hashable, tuple[Any, ...]]] = field(default_factory=list)  # ok reads: key, list seen
    internal: list[str] = field(default_factory=list)  # reads that missed the transaction's own appends


def check_list_append(operations: Iterable[Operation], max_steps: int = DEFAULT_MAX_STEPS) -> ListAppendResult:
    transactions = [operation for operation in operations if not _is_aborted_read_only(operation)]
    txns = [_parse(operation) for operation in transactions]
    result = ListAppendResult(True, transactions)
    writer: dict[tuple[Hashable, Any], int] = {}
    for number, txn in enumerate(txns):
        for key, elements in txn.appends.items():
            for element in elements:
                other = writer.setdefault((key, element), number)
                if other != number:
                    raise ListAppendModelMismatchError(
                        f"line {transactions[number].invoke_line_number}: element {element!r} is appended to "
                        f"{key!r} twice (also line {transactions[other].invoke_line_number}); elements must be unique"
                    )
    orders = _version_orders(txns, writer, result)
    result.key_count = len(orders)
    observed = {number for key, order in orders.items() for number in (writer.get((key, e)) for e in order) if number is not None}
    committed = {number for number, operation in enumerate(transactions) if operation.outcome == OK} | {
        number for number in observed if transactions[number].outcome != FAIL
    }
    result.committed_count = len(committed)
    _aborted_and_intermediate_reads(txns, transactions, writer, result)
    edges = _edges(txns, orders, writer, committed)
    _cycles(edges, len(transactions), max_steps, result)
    if any(result.anomalies.values()):
        result.validity = False
    elif result.unknown_reason is not None:
        result.validity = "unknown"
    return result


def _is_aborted_read_only(operation: Operation) -> bool:
    """A transaction that only reads and did not complete ok constrains nothing."""
    if operation.function != TXN:
        raise ListAppendModelMismatchError(
            f"line {operation.invoke_line_number}: f {operation.function!r} is no list-append transaction (txn)"
        )
    micro = operation.input_value or ()
    return operation.outcome != OK and all(isinstance(m, tuple) and m and m[0] == READ for m in micro)


def _parse(operation: Operation) -> _Txn:
    micro_operations = operation.output_value if operation.outcome == OK else operation.input_value
    if not isinstance(micro_operations, tuple):
        raise ListAppendModelMismatchError(
            f"line {operation.invoke_line_number}: a txn's value must be a list of micro-operations, got {micro_operations!r}"
        )
    txn = _Txn()
    for micro in micro_operations:
        if not (isinstance(micro, tuple) and len(micro) == 3 and micro[0] in (APPEND, READ)):
            raise ListAppendModelMismatchError(
                f"line {operation.invoke_line_number}: micro-operation {micro!r} is neither [\"append\", k, e] nor [\"r\", k, list]"
            )
        function, key, value = micro
        if function == APPEND:
            txn.appends.setdefault(key, []).append(value)
        elif operation.outcome == OK:
            if value is not None and not isinstance(value, tuple):
                raise ListAppendModelMismatchError(
                    f"line {operation.invoke_line_number}: the read of {key!r} returned {value!r}, not a list"
                )
            seen = value or ()
            own = tuple(txn.appends.get(key, ()))
            if own and seen[len(seen) - len(own) :] != own:
                txn.internal.append(f"read {key!r} as {list(seen)} after appending {list(own)} itself")
            txn.reads.append((key, seen))
    return txn


def _version_orders(txns: Sequence[_Txn], writer: dict[tuple[Hashable, Any], int], result: ListAppendResult) -> dict[Hashable, tuple[Any, ...]]:
    """Each key's longest read, once every read is checked against it (prefixes, no duplicates)."""
    longest: dict[Hashable, tuple[tuple[Any, ...], int]] = {}
    for number, txn in enumerate(txns):
        for key, seen in txn.reads:
            if len(set(seen)) != len(seen):
                duplicated = next(e for e in seen if seen.count(e) > 1)
                _report(result, "duplicate-elements", f"T{number} read {key!r} with {duplicated!r} twice", (number,))
            unknown = [e for e in seen if (key, e) not in writer]
            if unknown:
                _report(result, "unknown-element", f"T{number} read {unknown[0]!r} in {key!r}, which no transaction appended", (number,))
            best = longest.get(key)
            if best is None or len(seen) > len(best[0]):
                longest[key] = (seen, number)
    orders = {key: seen for key, (seen, _) in longest.items()}
    for number, txn in enumerate(txns):
        for key, seen in txn.reads:
            order, longest_reader = longest[key]
            if order[: len(seen)] != seen:
                _report(
                    result, "incompatible-order",
                    f"T{number} read {key!r} as {list(seen)} and T{longest_reader} as {list(order)}: neither is a prefix of the other",
                    (number, longest_reader),
                )  # fmt: skip
    return orders


def _aborted_and_intermediate_reads(
    txns: Sequence[_Txn], transactions: Sequence[Operation], writer: dict[tuple[Hashable, Any], int], result: ListAppendResult
) -> None:
    for number, txn in enumerate(txns):
        for text in txn.internal:
            _report(result, "internal", f"T{number} {text}: a transaction must see its own writes", (number,))
        for key, seen in txn.reads:
            for element in seen:
                source = writer.get((key, element))
                if source is not None and transactions[source].outcome == FAIL:
                    _report(result, "G1a", f"T{number} read {element!r} in {key!r}, appended by T{source}, which failed", (number, source))
                    break
            if not seen:
                continue
            source = writer.get((key, seen[-1]))
            if source is None or source == number:
                continue
            appended = txns[source].appends.get(key, [])
            if appended and appended[-1] != seen[-1]:
                _report(
                    result, "G1b",
                    f"T{number} read {key!r} ending in {seen[-1]!r}, but T{source} went on to append {appended[-1]!r}: "
                    "it saw the middle of another transaction",
                    (number, source),
                )  # fmt: skip


def _edges(
    txns: Sequence[_Txn], orders: dict[Hashable, tuple[Any, ...]], writer: dict[tuple[Hashable, Any], int], committed: set[int]
) -> dict[int, dict[int, list[Edge]]]:
    edges: dict[int, dict[int, list[Edge]]] = {}

    def add(source: int | None, target: int | None, kind: str, key: Hashable, element: Any) -> None:
        if source is None or target is None or source == target or source not in committed or target not in committed:
            return
        edges.setdefault(source, {}).setdefault(target, []).append(Edge(source, target, kind, key, element))

    for key, order in orders.items():
        for before, after in pairwise(order):
            add(writer.get((key, before)), writer.get((key, after)), WW, key, after)
    for number, txn in enumerate(txns):
        own = {key: set(elements) for key, elements in txn.appends.items()}
        for key, seen in txn.reads:
            # What this transaction saw of others: its own appends at the end of the list are not a version read.
            visible = seen
            while visible and visible[-1] in own.get(key, ()):
                visible = visible[:-1]
            if visible:
                add(writer.get((key, visible[-1])), number, WR, key, visible[-1])
            order = orders.get(key, ())
            if len(visible) < len(order):
                add(number, writer.get((key, order[len(visible)])), RW, key, order[len(visible)])
    return edges


def _strongly_connected(nodes: Iterable[int], successors: dict[int, Iterable[int]]) -> list[list[int]]:
    """Tarjan's components, iteratively (a long chain must not exhaust Python's stack)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    components: list[list[int]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(successors.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(successors.get(child, ()))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(component)
    return components


class _Budget:
    def __init__(self, steps: int) -> None:
        self.left = steps

    def spend(self) -> bool:
        self.left -= 1
        return self.left >= 0


def _path(
    edges: dict[int, dict[int, list[Edge]]], start: int, goal: int, members: set[int], kinds: frozenset[str], budget: _Budget
) -> list[Edge] | None:
    """The shortest path start ~> goal inside `members` over edges of `kinds` (BFS); None if none."""
    parents: dict[int, Edge] = {}
    seen = {start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for target, found in edges.get(node, {}).items():
            if target not in members or target in seen:
                continue
            edge = next((e for e in found if e.kind in kinds), None)
            if edge is None:
                continue
            if not budget.spend():
                raise _OutOfSteps
            parents[target] = edge
            if target == goal:
                path = [edge]
                while path[0].source != start:
                    path.insert(0, parents[path[0].source])
                return path
            seen.add(target)
            queue.append(target)
    return None


class _OutOfSteps(Exception):
    pass


def _cycles(edges: dict[int, dict[int, list[Edge]]], count: int, max_steps: int, result: ListAppendResult) -> None:
    successors = {source: list(targets) for source, targets in edges.items()}
    budget = _Budget(max_steps)
    for component in _strongly_connected(range(count), successors):
        members = set(component)
        internal = [e for s in component for t, found in edges.get(s, {}).items() if t in members for e in found]
        try:
            cycle_class, cycle = _classify(edges, members, internal, budget)
        except _OutOfSteps:
            result.unknown_reason = f"the cycle search ran out of its {max_steps:,} steps; a cycle's class is unknown"
            _report(
                result, "cycle", f"transactions {sorted(component)[:10]} depend on each other in a cycle (not classified)",
                tuple(sorted(component)),
            )  # fmt: skip
            continue
        shown = " -> ".join(f"T{edge.source} ({edge.kind} on {edge.key!r}, {edge.element!r})" for edge in cycle)
        _report(
            result, cycle_class, f"a {cycle_class} cycle: {shown} -> T{cycle[0].source}",
            tuple(edge.source for edge in cycle), tuple(cycle),
        )  # fmt: skip


def _cycle_of_kinds(
    edges: dict[int, dict[int, list[Edge]]],
    members: set[int],
    internal: list[Edge],
    kinds: frozenset[str],
    through: str,
    budget: _Budget,
) -> list[Edge] | None:
    """A cycle over edges of `kinds` holding an edge of kind `through`, if there is one: such a cycle lies
    within one component of the subgraph of those kinds, which holds a path back from any of its edges."""
    restricted: dict[int, set[int]] = {}
    for edge in internal:
        if edge.kind in kinds:
            restricted.setdefault(edge.source, set()).add(edge.target)
    for component in _strongly_connected(sorted(members), restricted):
        inside = set(component)
        for edge in internal:
            if edge.kind == through and edge.source in inside and edge.target in inside:
                back = _path(edges, edge.target, edge.source, inside, kinds, budget)
                assert back is not None
                return [edge, *back]
    return None


def _classify(
    edges: dict[int, dict[int, list[Edge]]], members: set[int], internal: list[Edge], budget: _Budget
) -> tuple[str, list[Edge]]:
    """The most specific cycle class in one component and a cycle of that class."""
    cycle = _cycle_of_kinds(edges, members, internal, frozenset({WW}), WW, budget)
    if cycle is not None:
        return "G0", cycle
    cycle = _cycle_of_kinds(edges, members, internal, frozenset({WW, WR}), WR, budget)
    if cycle is not None:
        return "G1c", cycle
    rw_edges = [edge for edge in internal if edge.kind == RW]
    for edge in rw_edges:  # the one search that may not pay off: budgeted
        back = _path(edges, edge.target, edge.source, members, frozenset({WW, WR}), budget)
        if back is not None:
            return "G-single", [edge, *back]
    # Every cycle here holds an rw edge, none only one, and any rw edge's target leads back (one component).
    back = _path(edges, rw_edges[0].target, rw_edges[0].source, members, frozenset({WW, WR, RW}), budget)
    assert back is not None
    return "G2", [rw_edges[0], *back]


def _report(result: ListAppendResult, kind: str, explanation: str, transactions: tuple[int, ...], cycle: tuple[Edge, ...] = ()) -> None:
    found = result.anomalies.setdefault(kind, [])
    result.anomaly_counts[kind] = result.anomaly_counts.get(kind, 0) + 1
    if len(found) < 10:  # a broken store repeats an anomaly everywhere: a few witnesses say it
        found.append(Anomaly(kind, explanation, transactions, cycle))
