"""Proxy and toxic definitions as the API sees them: parsing, validation and JSON shapes (pure).

Defaults and checks mirror Toxiproxy 2.x (api.go, toxic_collection.go): a toxic's
stream defaults to downstream, its toxicity to 1.0 and its name to `<type>_<stream>`;
a new proxy is enabled unless told otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from chaos.toxiproxy import api_errors
from chaos.toxiproxy.api_errors import ApiError
from chaos.toxiproxy.toxics import TOXIC_ATTRIBUTE_DEFAULTS

STREAMS = ("upstream", "downstream")
# Where a proxy listens when the request does not say: loopback, never every interface.
DEFAULT_LISTEN = "127.0.0.1:0"


@dataclass(frozen=True)
class ToxicDefinition:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "attributes": dict(self.attributes),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
        }


@dataclass(frozen=True)
class ProxyFields:
    name: str
    listen: str
    upstream: str
    enabled: bool


def decode_json_body(raw: bytes) -> object:
    if not raw.strip():
        raise api_errors.bad_request_body("EOF")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise api_errors.bad_request_body(str(error)) from None


def json_type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def cannot_unmarshal(value: object, field_name: str, expected: str) -> ApiError:
    return api_errors.bad_request_body(
        f"json: cannot unmarshal {json_type_name(value)} into field {field_name} of type {expected}"
    )


def require_object(body: object, what: str) -> dict[str, object]:
    if not isinstance(body, dict):
        raise cannot_unmarshal(body, what, "object")
    return body


def optional_string(body: Mapping[str, object], key: str, default: str) -> str:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise cannot_unmarshal(value, key, "string")
    return value


def optional_bool(body: Mapping[str, object], key: str, default: bool) -> bool:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise cannot_unmarshal(value, key, "bool")
    return value


def optional_toxicity(body: Mapping[str, object], default: float) -> float:
    value = body.get("toxicity")
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise cannot_unmarshal(value, "toxicity", "float32")
    return float(value)


def split_address(address: str) -> tuple[str, int]:
    """'host:port' or '[v6]:port' → (host, port); an empty host means every interface."""
    host, separator, port_text = address.rpartition(":")
    if not separator or not port_text.isdigit() or int(port_text) > 65535:
        raise ApiError(f"invalid address {address!r}: expected host:port", 400)
    host = host.strip("[]")
    return host, int(port_text)


def parse_new_proxy(body: object, *, position: str = "") -> ProxyFields:
    fields = require_object(body, "Proxy")
    name = optional_string(fields, "name", "")
    upstream = optional_string(fields, "upstream", "")
    if not name:
        raise api_errors.missing_field("name" + position)
    if not upstream:
        raise api_errors.missing_field("upstream" + position)
    proxy = ProxyFields(
        name=name,
        listen=optional_string(fields, "listen", "") or DEFAULT_LISTEN,
        upstream=upstream,
        enabled=optional_bool(fields, "enabled", True),
    )
    validate_addresses(proxy)
    return proxy


def validate_addresses(proxy: ProxyFields) -> None:
    split_address(proxy.listen)
    split_address(proxy.upstream)


def parse_proxy_update(current: ProxyFields, body: object) -> ProxyFields:
    fields = require_object(body, "Proxy")
    updated = replace(
        current,
        listen=optional_string(fields, "listen", current.listen) or current.listen,
        upstream=optional_string(fields, "upstream", current.upstream) or current.upstream,
        enabled=optional_bool(fields, "enabled", current.enabled),
    )
    validate_addresses(updated)
    return updated


def parse_populate(body: object) -> list[ProxyFields]:
    if not isinstance(body, list):
        raise cannot_unmarshal(body, "populate", "array of Proxy")
    proxies = [parse_new_proxy(item, position=f" at proxy {index + 1}") for index, item in enumerate(body)]
    names = [proxy.name for proxy in proxies]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ApiError(f"duplicate proxy name {duplicates[0]!r}", 400)
    return proxies


def parse_attributes(toxic_type: str, raw: object, base: Mapping[str, int]) -> dict[str, int]:
    """Known attributes override `base`; unknown ones are ignored, as Go's decoder does."""
    attributes = dict(base)
    if raw is None:
        return attributes
    if not isinstance(raw, dict):
        raise cannot_unmarshal(raw, "attributes", toxic_type)
    for key in TOXIC_ATTRIBUTE_DEFAULTS[toxic_type]:
        if key not in raw or raw[key] is None:
            continue
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise cannot_unmarshal(value, f"attributes.{key}", "int64")
        attributes[key] = value
    if toxic_type == "slicer" and (attributes["average_size"] <= 0 or attributes["size_variation"] < 0):
        # Toxiproxy would loop or panic on these; refusing them is kinder.
        raise api_errors.bad_request_body("slicer needs average_size > 0 and size_variation >= 0")
    return attributes


def parse_new_toxic(body: object, existing_names: set[str]) -> ToxicDefinition:
    fields = require_object(body, "Toxic")
    toxicity = optional_toxicity(fields, 1.0)  # decoded with the body, before any other check
    stream = optional_string(fields, "stream", "downstream").lower()
    if stream not in STREAMS:
        raise api_errors.invalid_stream()
    toxic_type = optional_string(fields, "type", "")
    name = optional_string(fields, "name", "") or f"{toxic_type}_{stream}"
    if toxic_type not in TOXIC_ATTRIBUTE_DEFAULTS:
        raise api_errors.invalid_toxic_type()
    if name in existing_names:
        raise api_errors.toxic_already_exists()
    attributes = parse_attributes(toxic_type, fields.get("attributes"), TOXIC_ATTRIBUTE_DEFAULTS[toxic_type])
    return ToxicDefinition(name, toxic_type, stream, toxicity, attributes)


def parse_toxic_update(current: ToxicDefinition, body: object) -> ToxicDefinition:
    """Only attributes and toxicity change; name, type and stream stay (as in Toxiproxy)."""
    fields = require_object(body, "Toxic")
    return replace(
        current,
        toxicity=optional_toxicity(fields, current.toxicity),
        attributes=parse_attributes(current.type, fields.get("attributes"), current.attributes),
    )
