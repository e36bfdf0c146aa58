"""Document paths (a.b[2].c): resolving one in an item, and the overlap and conflict checks
that projections and update expressions share."""

from __future__ import annotations

from dataclasses import dataclass

from cluster.api.attribute_values import Item
from cluster.api.errors import ValidationException

PathElement = str | int


@dataclass(frozen=True)
class PathOperand:
    elements: tuple[PathElement, ...]

    def resolve(self, item: Item) -> dict | None:
        first = self.elements[0]
        assert isinstance(first, str)
        current = item.get(first)
        for element in self.elements[1:]:
            if current is None:
                return None
            if isinstance(element, int):
                elements = current.get("L")
                current = elements[element] if elements is not None and element < len(elements) else None
            else:
                members = current.get("M")
                current = members.get(element) if members is not None else None
        return current

    def describe(self) -> str:
        text = ""
        for element in self.elements:
            text += f"[{element}]" if isinstance(element, int) else (f".{element}" if text else element)
        return text


def describe_path(elements: tuple[PathElement, ...]) -> str:
    """A path as DynamoDB prints it in overlap messages: [a, [2], c]."""
    return "[" + ", ".join(f"[{element}]" if isinstance(element, int) else element for element in elements) + "]"


def check_paths_apart(paths: list[tuple[PathElement, ...]], kind: str) -> None:
    """No path may be a prefix of another (overlap), nor name a map member where another
    indexes a list (conflict)."""
    for position, path in enumerate(paths):
        for earlier in paths[:position]:
            for mine, theirs in zip(earlier, path, strict=False):
                if isinstance(mine, int) != isinstance(theirs, int):
                    raise ValidationException(
                        f"Invalid {kind}: Two document paths conflict with each other; must remove or rewrite one "
                        f"of these paths; path one: {describe_path(earlier)}, path two: {describe_path(path)}"
                    )
                if mine != theirs:
                    break
            else:
                raise ValidationException(
                    f"Invalid {kind}: Two document paths overlap with each other; must remove or rewrite one "
                    f"of these paths; path one: {describe_path(earlier)}, path two: {describe_path(path)}"
                )
