"""ProjectionExpression / AttributesToGet applied to an item, nested document paths included.

The same shaping answers UpdateItem's UPDATED_OLD / UPDATED_NEW: the item restricted to some
document paths. List elements picked by index come back in index order, packed together
(`a[3], a[1]` of a four-element list gives a two-element list), as DynamoDB does.
"""

from __future__ import annotations

from collections.abc import Sequence

from cluster.api.attribute_values import Item
from cluster.api.document_paths import PathElement, PathOperand

DocumentPath = tuple[PathElement, ...]


def project(item: Item, paths: Sequence[DocumentPath] | None) -> Item:
    """The item restricted to `paths`; None means every attribute. Paths the item lacks are
    simply absent from the result, as in DynamoDB."""
    if paths is None:
        return item
    tree: dict = {}
    for path in paths:
        value = PathOperand(tuple(path)).resolve(item)
        if value is not None:
            _insert(tree, path, value)
    return {name: _build(node) for name, node in tree.items()}


# The tree under construction: a map node is a dict of name -> node; a list node is a
# _ListNode of index -> node; a leaf is the attribute value itself, wrapped in _Leaf.


class _Leaf:
    def __init__(self, value: dict) -> None:
        self.value = value


class _ListNode(dict):
    pass


def _insert(tree: dict, path: DocumentPath, value: dict) -> None:
    node = tree
    for position, element in enumerate(path):
        last = position == len(path) - 1
        if last:
            node[element] = _Leaf(value)
            return
        following = path[position + 1]
        if element not in node:
            node[element] = _ListNode() if isinstance(following, int) else {}
        node = node[element]


def _build(node: object) -> dict:
    if isinstance(node, _Leaf):
        return node.value
    if isinstance(node, _ListNode):
        return {"L": [_build(node[index]) for index in sorted(node)]}
    assert isinstance(node, dict)
    return {"M": {name: _build(child) for name, child in node.items()}}
