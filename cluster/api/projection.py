"""ProjectionExpression / AttributesToGet applied to an item (top-level attributes only)."""

from __future__ import annotations

from cluster.api.attribute_values import Item


def project(item: Item, attributes: list[str] | None) -> Item:
    """The item restricted to `attributes`; None means every attribute. Attributes the item
    lacks are simply absent from the result, as in DynamoDB."""
    if attributes is None:
        return item
    return {name: item[name] for name in attributes if name in item}
