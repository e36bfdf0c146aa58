"""A minimal YAML writer for the config files we generate (Prometheus, Grafana provisioning).

No PyYAML: the store and the harness run on the standard library. Every scalar is written as a JSON
literal, which is also a valid YAML flow scalar, so quoting and escaping are JSON's and never ambiguous
(``"on"``, ``"1e3"`` or a PromQL expression with ``{}``/``:``/``#`` stay strings). Only block mappings
and block sequences are produced, which keeps the files readable in a review.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any


class YamlTextError(ValueError):
    """A value that has no faithful YAML form here (NaN, a non-string key, an unknown type)."""


def _scalar(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        raise YamlTextError(f"cannot write the non-finite number {value!r}")
    if isinstance(value, float):
        text = repr(value)
        # YAML 1.1 readers (PyYAML) take `1e-09` for a string: they want a dot and a signed exponent.
        mantissa, _, exponent = text.partition("e")
        if exponent:
            sign = "" if exponent[0] in "+-" else "+"
            text = f"{mantissa if '.' in mantissa else mantissa + '.0'}e{sign}{exponent}"
        return text
    if value is None or isinstance(value, bool | int | str):
        return json.dumps(value, ensure_ascii=False)
    raise YamlTextError(f"cannot write a value of type {type(value).__name__}: {value!r}")


# Keys like ``scrape_configs`` are written bare for readability; YAML 1.1 reads these words as booleans
# or null, so they stay quoted.
_BARE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


def _key(key: str) -> str:
    if _BARE_KEY.fullmatch(key) and key.lower() not in _YAML_WORDS:
        return key
    return _scalar(key)


def _is_collection(value: Any) -> bool:
    return isinstance(value, Mapping) or (isinstance(value, Sequence) and not isinstance(value, str))


def _lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, Mapping):
        if not value:
            return [pad + "{}"]
        lines: list[str] = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise YamlTextError(f"mapping keys must be strings, got {key!r}")
            if _is_collection(item) and item:
                lines.append(f"{pad}{_key(key)}:")
                lines.extend(_lines(item, indent + 2))
            elif (block := _literal_block(item, indent + 2)) is not None:
                lines.append(f"{pad}{_key(key)}: {block[0]}")
                lines.extend(block[1:])
            else:
                lines.append(f"{pad}{_key(key)}: {_inline(item)}")
        return lines
    if isinstance(value, Sequence) and not isinstance(value, str):
        if not value:
            return [pad + "[]"]
        lines = []
        for item in value:
            if _is_collection(item) and item:
                nested = _lines(item, indent + 2)
                # The first line of a nested block sits after the dash, the rest keep their indent.
                lines.append(f"{pad}- {nested[0].lstrip()}")
                lines.extend(nested[1:])
            else:
                lines.append(f"{pad}- {_inline(item)}")
        return lines
    return [pad + _scalar(value)]


def _literal_block(value: Any, indent: int) -> list[str] | None:
    """A multi-line string as a ``|-`` block (one PromQL clause a line reads far better than ``\\n``)."""
    if not isinstance(value, str) or "\n" not in value:
        return None
    # Where a block would not give back exactly the same string, fall back to a JSON literal.
    if value.startswith((" ", "\n")) or value.endswith("\n") or not all(
        character == "\n" or character.isprintable() for character in value
    ):
        return None
    pad = " " * indent
    return ["|-"] + [pad + line if line else "" for line in value.split("\n")]


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"  # only reached for an empty mapping
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "[]"  # only reached for an empty sequence
    return _scalar(value)


def to_yaml(document: Mapping[str, Any], header: str = "") -> str:
    """YAML text of ``document``; ``header`` lines become leading ``#`` comments."""
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return comment + "\n".join(_lines(document, 0)) + "\n"


def duration(seconds: float) -> str:
    """A Prometheus duration: whole seconds as ``10s``, anything finer in milliseconds (``1500ms``)."""
    if not math.isfinite(seconds) or seconds <= 0:
        raise YamlTextError(f"a duration must be a positive number of seconds, got {seconds!r}")
    milliseconds = round(seconds * 1000)
    if milliseconds == 0:
        raise YamlTextError(f"a duration below one millisecond cannot be written: {seconds!r}")
    if milliseconds % 1000 == 0:
        return f"{milliseconds // 1000}s"
    return f"{milliseconds}ms"
