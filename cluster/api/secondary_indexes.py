"""Secondary indexes (CreateTable's GlobalSecondaryIndexes and LocalSecondaryIndexes): their specs, validated
as DynamoDB validates them, what an index holds of an item, and their TableDescription shape. Pure.

The messages are DynamoDB's. Where dynalite (our local oracle) and AWS differ, AWS wins and a comment says
so; "AWS-verified" marks behaviour observed on the real service by public test suites (moto's
aws_verified tests, scylladb's alternator tests, which run against AWS) rather than read in dynalite.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cluster.api.attribute_values import Item, KeySchema, attribute_type
from cluster.api.errors import ValidationException, validation_errors_detected

GLOBAL = "GLOBAL"
LOCAL = "LOCAL"
PROJECTION_TYPES = ("ALL", "KEYS_ONLY", "INCLUDE")
# The order DynamoDB (and dynalite) list the projection types in an enum error.
_PROJECTION_TYPES_SHOWN = ("ALL", "INCLUDE", "KEYS_ONLY")
MAX_GLOBAL_INDEXES = 20
MAX_LOCAL_INDEXES = 5
MAX_KEY_SCHEMA_ELEMENTS = 2  # AWS now allows multi-attribute GSI keys (up to 4 + 4); this store does not
MAX_NON_KEY_ATTRIBUTES_PER_INDEX = 20  # the Projection shape's list bound (API reference; dynalite has none)
MAX_NON_KEY_ATTRIBUTES = 100  # summed over every index of a table
MIN_INDEX_NAME_LENGTH = 3
MAX_INDEX_NAME_LENGTH = 255
INDEX_NAME_PATTERN = "[a-zA-Z0-9_.-]+"
_INDEX_NAME = re.compile(INDEX_NAME_PATTERN)
INVALID = "One or more parameter values were invalid: "

_GLOBAL_FIELD = "GlobalSecondaryIndexes"
_LOCAL_FIELD = "LocalSecondaryIndexes"


# ---------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class IndexSpec:
    name: str
    kind: str  # GLOBAL or LOCAL
    key_schema: KeySchema  # an LSI's: the table's hash key and its own range key
    projection_type: str  # ALL | KEYS_ONLY | INCLUDE
    non_key_attributes: tuple[str, ...] = ()  # INCLUDE only
    read_capacity_units: int = 0  # a GSI's ProvisionedThroughput; 0 for PAY_PER_REQUEST tables and LSIs
    write_capacity_units: int = 0

    def __post_init__(self) -> None:
        assert self.kind in (GLOBAL, LOCAL), self.kind
        assert self.projection_type in PROJECTION_TYPES, self.projection_type
        assert not self.non_key_attributes or self.projection_type == "INCLUDE"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "key_schema": self.key_schema.to_json(),
            "projection_type": self.projection_type,
            "non_key_attributes": list(self.non_key_attributes),
            "read_capacity_units": self.read_capacity_units,
            "write_capacity_units": self.write_capacity_units,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexSpec:
        return cls(
            name=data["name"],
            kind=data["kind"],
            key_schema=KeySchema.from_json(data["key_schema"]),
            projection_type=data["projection_type"],
            non_key_attributes=tuple(data.get("non_key_attributes") or ()),
            read_capacity_units=int(data.get("read_capacity_units") or 0),
            write_capacity_units=int(data.get("write_capacity_units") or 0),
        )

    def index_key(self, item: Item) -> Item | None:
        """The item's index key attributes ({name: value}), or None when the item has no entry in the index:
        an index key attribute is missing (DynamoDB's indexes are sparse), or it violates the index key (an
        item written before UpdateTable added the index; DynamoDB's backfill leaves such items out)."""
        try:
            check_index_keys(item, (self,))
        except ValidationException:
            return None
        key: Item = {}
        for name in self.key_schema.key_names:
            value = item.get(name)
            if value is None:
                return None
            key[name] = value
        return key

    def project(self, item: Item, table_schema: KeySchema) -> Item:
        """The index entry's attributes: the table's key + the index key + (ALL: everything; INCLUDE: the
        NonKeyAttributes present; KEYS_ONLY: nothing more), in the item's order."""
        names = self.projected_names(table_schema)
        if names is None:
            return dict(item)
        return {name: value for name, value in item.items() if name in names}

    def projected_names(self, table_schema: KeySchema) -> frozenset[str] | None:
        """Attribute names an entry may hold; None for ALL."""
        if self.projection_type == "ALL":
            return None
        return frozenset((*table_schema.key_names, *self.key_schema.key_names, *self.non_key_attributes))


# ---------------------------------------------------------------------------- items written to the table


def check_index_keys(item: Item, specs: Sequence[IndexSpec]) -> None:
    """Raises ValidationException as DynamoDB does when an item written to the table has an index key attribute
    of the wrong type or an empty string/binary index key. A missing one is fine: the item is just not in
    that index."""
    for spec in specs:
        for name, expected_type in spec.key_schema.key_types().items():
            value = item.get(name)
            if value is None:
                continue
            actual_type = attribute_type(value)
            if actual_type != expected_type:
                # dynalite's and AWS's wording (AWS capitalises Expected/Actual here, unlike for table keys).
                raise ValidationException(
                    f"{INVALID}Type mismatch for Index Key {name} Expected: {expected_type} Actual: {actual_type} "
                    f"IndexName: {spec.name}"
                )
            if value[actual_type] == "" and actual_type in ("S", "B"):
                # dynalite accepts these; AWS refuses them (message AWS-verified in users' error logs).
                noun = "string" if actual_type == "S" else "binary"
                raise ValidationException(
                    "One or more parameter values are not valid. A value specified for a secondary index key is not "
                    f"supported. The AttributeValue for a key attribute cannot contain an empty {noun} value. "
                    f"IndexName: {spec.name}, IndexKey: {name}"
                )


# ---------------------------------------------------------------------------- member constraints


def _member(field_name: str) -> str:
    """DynamoDB names members in lowerCamelCase in its validation messages ('globalSecondaryIndexes')."""
    return field_name[:1].lower() + field_name[1:]


def _shown(value: object) -> str:
    """A value as DynamoDB shows it in a constraint message: lists as [a, b], structures as JSON."""
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ", ".join(_shown(element) for element in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _violation(value: object, member: str, constraint: str) -> str:
    shown = "null" if value is None else f"'{_shown(value)}'"
    return f"Value {shown} at '{member}' failed to satisfy constraint: {constraint}"


def _not_null(member: str) -> str:
    return _violation(None, member, "Member must not be null")


def index_name_problems(value: str, member: str) -> list[str]:
    """IndexName's constraints (CreateTable's indexes, Query's and Scan's IndexName), in dynalite's order.
    AWS reports the same constraints, in an order that varies between operations."""
    problems = []
    if not _INDEX_NAME.fullmatch(value):
        problems.append(_violation(value, member, f"Member must satisfy regular expression pattern: {INDEX_NAME_PATTERN}"))
    if len(value) < MIN_INDEX_NAME_LENGTH:
        problems.append(
            _violation(value, member, f"Member must have length greater than or equal to {MIN_INDEX_NAME_LENGTH}")
        )
    if len(value) > MAX_INDEX_NAME_LENGTH:
        problems.append(
            _violation(value, member, f"Member must have length less than or equal to {MAX_INDEX_NAME_LENGTH}")
        )
    return problems


def _objects(container: dict[str, Any], field_name: str) -> list[dict[str, Any]] | None:
    value = container.get(field_name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise ValidationException(f"Expected a list of objects for {field_name}")
    return value


def _string(container: dict[str, Any], field_name: str) -> str | None:
    value = container.get(field_name)
    if value is not None and not isinstance(value, str):
        raise ValidationException(f"Expected a string for {field_name}, got {type(value).__name__}")
    return value


def named_index_problems(index: dict[str, Any], prefix: str) -> list[str]:
    """The member constraints of an index's (or an index action's) IndexName, at `prefix`indexName."""
    name = _string(index, "IndexName")
    if name is None:
        return [_not_null(prefix + "indexName")]
    return index_name_problems(name, prefix + "indexName")


def _key_schema_problems(index: dict[str, Any], prefix: str) -> list[str]:
    elements = _objects(index, "KeySchema")
    if elements is None:
        return [_not_null(prefix + "keySchema")]
    problems = []
    if not elements:
        problems.append(_violation(elements, prefix + "keySchema", "Member must have length greater than or equal to 1"))
    elif len(elements) > MAX_KEY_SCHEMA_ELEMENTS:
        problems.append(
            _violation(
                elements,
                prefix + "keySchema",
                f"Member must have length less than or equal to {MAX_KEY_SCHEMA_ELEMENTS}",
            )
        )
    for position, element in enumerate(elements, start=1):
        member = f"{prefix}keySchema.{position}.member."
        if _string(element, "AttributeName") is None:
            problems.append(_not_null(member + "attributeName"))
        key_type = _string(element, "KeyType")
        if key_type is None:
            problems.append(_not_null(member + "keyType"))
        elif key_type not in ("HASH", "RANGE"):
            # AWS's KeySchemaElement has this enum everywhere; dynalite checks it for the table's key only.
            problems.append(_violation(key_type, member + "keyType", "Member must satisfy enum value set: [HASH, RANGE]"))
    return problems


def _projection_problems(index: dict[str, Any], prefix: str) -> list[str]:
    projection = index.get("Projection")
    if projection is None:
        return [_not_null(prefix + "projection")]
    if not isinstance(projection, dict):
        raise ValidationException("Expected an object for Projection")
    problems = []
    projection_type = _string(projection, "ProjectionType")
    if projection_type is not None and projection_type not in PROJECTION_TYPES:
        problems.append(
            _violation(
                projection_type,
                prefix + "projection.projectionType",
                f"Member must satisfy enum value set: [{', '.join(_PROJECTION_TYPES_SHOWN)}]",
            )
        )
    non_key_attributes = projection.get("NonKeyAttributes")
    if non_key_attributes is not None:
        if not isinstance(non_key_attributes, list) or not all(isinstance(name, str) for name in non_key_attributes):
            raise ValidationException("Expected a list of strings for NonKeyAttributes")
        member = prefix + "projection.nonKeyAttributes"
        if not non_key_attributes:
            problems.append(_violation(non_key_attributes, member, "Member must have length greater than or equal to 1"))
        elif len(non_key_attributes) > MAX_NON_KEY_ATTRIBUTES_PER_INDEX:
            problems.append(
                _violation(
                    non_key_attributes,
                    member,
                    f"Member must have length less than or equal to {MAX_NON_KEY_ATTRIBUTES_PER_INDEX}",
                )
            )
    return problems


def _throughput_problems(index: dict[str, Any], prefix: str) -> list[str]:
    throughput = index.get("ProvisionedThroughput")
    if throughput is None:
        return []
    if not isinstance(throughput, dict):
        raise ValidationException("Expected an object for ProvisionedThroughput")
    problems = []
    for field_name in ("WriteCapacityUnits", "ReadCapacityUnits"):  # DynamoDB reports write first
        member = f"{prefix}provisionedThroughput.{_member(field_name)}"
        units = throughput.get(field_name)
        if units is None:
            problems.append(_not_null(member))
        elif not isinstance(units, int) or isinstance(units, bool):
            raise ValidationException(f"Expected an integer for {field_name}, got {type(units).__name__}")
        elif units < 1:
            problems.append(_violation(units, member, "Member must have value greater than or equal to 1"))
    return problems


def secondary_index_problems(body: dict[str, Any]) -> list[str]:
    """The member-constraint violations of CreateTable's indexes, which DynamoDB reports together with the
    table's own ('N validation errors detected: ...'): LSIs first, then GSIs, as dynalite lists them."""
    problems: list[str] = []
    for field_name in (_LOCAL_FIELD, _GLOBAL_FIELD):
        for position, index in enumerate(_objects(body, field_name) or [], start=1):
            prefix = f"{_member(field_name)}.{position}.member."
            problems += named_index_problems(index, prefix)
            problems += _key_schema_problems(index, prefix)
            problems += _projection_problems(index, prefix)
            # A LocalSecondaryIndex has no ProvisionedThroughput member: like any member a shape does not
            # have, DynamoDB (and dynalite) ignore it there.
            if field_name == _GLOBAL_FIELD:
                problems += _throughput_problems(index, prefix)
    return problems


# ---------------------------------------------------------------------------- AttributeDefinitions


def _java_string_hash(text: str) -> int:
    """java.lang.String.hashCode: over UTF-16 code units, 32-bit."""
    encoded = text.encode("utf-16-be", "surrogatepass")
    result = 0
    for offset in range(0, len(encoded), 2):
        result = (31 * result + int.from_bytes(encoded[offset : offset + 2], "big")) & 0xFFFFFFFF
    return result


def java_hash_set_order(names: Sequence[str], initial_capacity: int | None = None) -> list[str]:
    """The iteration order of a java.util.HashSet to which `names` (distinct) were added in order.

    DynamoDB lists attribute names in its AttributeDefinitions messages in this order: every AWS message we
    found fits a HashSet sized to the definitions for the definitions ('AttributeDefinitions: [tt, key,
    assignedTo, roles]' for definitions sent as key, assignedTo, roles, tt) and a default-sized one for the
    keys ('keys used: [a, sk, pk]'). Buckets are (h ^ h >>> 16) & (capacity - 1); a bucket keeps insertion
    order, and a resize keeps it too."""
    capacity = 16 if initial_capacity is None else 1 << max(0, initial_capacity - 1).bit_length()
    while len(names) > capacity * 0.75:
        capacity *= 2

    def bucket(name: str) -> int:
        hash_code = _java_string_hash(name)
        return (hash_code ^ (hash_code >> 16)) & (capacity - 1)

    return sorted(names, key=bucket)  # sorted() is stable: insertion order within a bucket


def _listed(names: Sequence[str]) -> str:
    return "[" + ", ".join(names) + "]"


def check_attribute_definitions(
    defined: Sequence[str],
    table_key_names: Sequence[str],
    index_key_names: Sequence[Sequence[str]],
    *,
    unused_allowed: bool = False,
) -> None:
    """CreateTable's AttributeDefinitions must define exactly the attributes the table's and the indexes' key
    schemas use. DynamoDB's four wordings, chosen by the sizes of the two sets and whether the request has
    indexes (AWS-verified; dynalite skips the unused check when there are indexes). `index_key_names`: one
    entry per index; empty without indexes. `unused_allowed`: UpdateTable's Create, where AWS ignores a
    definition no key uses (AWS-verified: scylladb's test_gsi_updatetable_spurious_attribute_definitions)."""
    seen: set[str] = set()
    for name in defined:
        if name in seen:
            raise ValidationException(f"Attribute Name is duplicated: {name}")  # AWS-verified; not in dynalite
        seen.add(name)
    used = list(dict.fromkeys([*table_key_names, *(name for names in index_key_names for name in names)]))
    missing = [name for name in used if name not in seen]
    unused = [] if unused_allowed else [name for name in defined if name not in used]
    if not missing and not unused:
        return
    has_indexes = bool(index_key_names)
    definitions = _listed(java_hash_set_order(defined, initial_capacity=len(defined)))
    if len(defined) > len(used) and not unused_allowed:
        if has_indexes:
            raise ValidationException(
                f"{INVALID}Some AttributeDefinitions are not used. AttributeDefinitions: {definitions}, "
                f"keys used: {_listed(java_hash_set_order(used))}"
            )
        raise ValidationException(
            f"{INVALID}Number of attributes in KeySchema does not exactly match number of attributes defined in "
            "AttributeDefinitions"
        )
    if len(defined) < len(used) and not has_indexes:
        raise ValidationException("Invalid KeySchema: Some index key attribute have no definition")
    # Fewer definitions than keys with indexes, or as many but not the same: with indexes DynamoDB lists the
    # undefined keys, without them every key.
    keys = missing if has_indexes else used
    raise ValidationException(
        f"{INVALID}Some index key attributes are not defined in AttributeDefinitions. "
        f"Keys: {_listed(java_hash_set_order(keys))}, AttributeDefinitions: {definitions}"
    )


def key_names_of_indexes(body: dict[str, Any]) -> list[list[str]]:
    """The attribute names each index's KeySchema uses (LSIs, then GSIs), read as far as they are given."""
    names = []
    for field_name in (_LOCAL_FIELD, _GLOBAL_FIELD):
        for index in _objects(body, field_name) or []:
            elements = _objects(index, "KeySchema") or []
            names.append([name for element in elements if (name := _string(element, "AttributeName")) is not None])
    return names


def check_index_lists_not_empty(body: dict[str, Any]) -> None:
    for field_name in (_LOCAL_FIELD, _GLOBAL_FIELD):
        if _objects(body, field_name) == []:
            raise ValidationException(f"{INVALID}List of {field_name} is empty")


# ---------------------------------------------------------------------------- CreateTable


def _check_key_order(elements: list[dict[str, Any]], same_name_message: str) -> None:
    if len(elements) == 2 and elements[0]["AttributeName"] == elements[1]["AttributeName"]:
        raise ValidationException(same_name_message)
    if elements[0]["KeyType"] != "HASH":
        raise ValidationException("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
    if len(elements) == 2 and elements[1]["KeyType"] != "RANGE":
        raise ValidationException("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type")


def _projection(index: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    projection = index["Projection"]
    projection_type = projection.get("ProjectionType")
    non_key_attributes = projection.get("NonKeyAttributes")
    if projection_type is None:
        raise ValidationException(f"{INVALID}Unknown ProjectionType: null")  # no default: AWS-verified
    if non_key_attributes is not None and projection_type != "INCLUDE":
        raise ValidationException(f"{INVALID}ProjectionType is {projection_type}, but NonKeyAttributes is specified")
    if projection_type == "INCLUDE" and non_key_attributes is None:
        # dynalite accepts INCLUDE alone (an index of keys only); AWS refuses it.
        raise ValidationException(f"{INVALID}ProjectionType is INCLUDE, but NonKeyAttributes is not specified")
    names = tuple(non_key_attributes or ())
    for position, name in enumerate(names):
        if name in names[:position]:
            raise ValidationException(f"{INVALID}Duplicate element in NonKeyAttributes: {name}")  # AWS, not dynalite
    return projection_type, names


def _index_key_schema(elements: list[dict[str, Any]], attribute_types: dict[str, str]) -> KeySchema:
    hash_name = elements[0]["AttributeName"]
    range_name = elements[1]["AttributeName"] if len(elements) == 2 else None
    return KeySchema(
        hash_name,
        attribute_types[hash_name],
        range_name,
        attribute_types[range_name] if range_name is not None else None,
    )


def _local_indexes(
    indexes: list[dict[str, Any]], table_schema: KeySchema, attribute_types: dict[str, str], names: set[str]
) -> list[IndexSpec]:
    """In dynalite's order of checks. An LSI's range key may be the table's own (AWS-verified: 'an LSI whose
    RANGE equals the table sort key' is accepted), so that is not refused."""
    if table_schema.range_name is None:
        raise ValidationException(
            f"{INVALID}Table KeySchema does not have a range key, which is required when specifying a "
            "LocalSecondaryIndex"
        )
    specs = []
    for index in indexes:
        name, elements = index["IndexName"], index["KeySchema"]
        _check_key_order(elements, "Both the Hash Key and the Range Key element in the KeySchema have the same name")
        if len(elements) != 2:
            raise ValidationException(f"{INVALID}Index KeySchema does not have a range key for index: {name}")
        index_hash = elements[0]["AttributeName"]
        if index_hash != table_schema.hash_name:
            raise ValidationException(
                f"{INVALID}Index KeySchema does not have the same leading hash key as table KeySchema for index: "
                f"{name}. index hash key: {index_hash}, table hash key: {table_schema.hash_name}"
            )
        projection_type, non_key_attributes = _projection(index)
        if name in names:
            raise ValidationException(f"{INVALID}Duplicate index name: {name}")
        names.add(name)
        specs.append(
            IndexSpec(name, LOCAL, _index_key_schema(elements, attribute_types), projection_type, non_key_attributes)
        )
    if len(indexes) > MAX_LOCAL_INDEXES:
        raise ValidationException(
            f"{INVALID}Number of LocalSecondaryIndexes exceeds per-table limit of {MAX_LOCAL_INDEXES}"
        )
    return specs


def global_index_specs(
    indexes: list[dict[str, Any]],
    attribute_types: dict[str, str],
    billing_mode: str,
    names: set[str],
    *,
    updating: bool = False,
) -> list[IndexSpec]:
    """GSIs from CreateTable's GlobalSecondaryIndexes or UpdateTable's Create actions (`updating`), whose
    member constraints and AttributeDefinitions were checked. `names` holds the names taken so far; UpdateTable
    words the throughput checks as AWS does for it (cluster/api/update_table_request.py)."""
    specs = []
    for index in indexes:
        name, elements = index["IndexName"], index["KeySchema"]
        # AWS words a GSI's repeated key attribute this way since GSI keys may have several attributes;
        # dynalite still says 'Both the Hash Key and the Range Key element...'.
        _check_key_order(elements, "The KeySchema contains multiple key attributes with the same name")
        projection_type, non_key_attributes = _projection(index)
        throughput = index.get("ProvisionedThroughput")
        if billing_mode == "PAY_PER_REQUEST" and throughput is not None and updating:
            # AWS's UpdateTable wording (an AWS error catalogue); which action it answers is unverified.
            raise ValidationException(
                f"{INVALID}Neither ReadCapacityUnits nor WriteCapacityUnits can be specified for index: {name} "
                "when BillingMode is PAY_PER_REQUEST"
            )
        if billing_mode == "PAY_PER_REQUEST" and throughput is not None:
            raise ValidationException(
                f"{INVALID}ProvisionedThroughput should not be specified for index: {name} when BillingMode is "
                "PAY_PER_REQUEST"
            )
        if billing_mode == "PROVISIONED" and throughput is None and updating:
            # AWS's UpdateTable wording (an AWS error catalogue); which action it answers is unverified.
            raise ValidationException(f"{INVALID}ProvisionedThroughput must be specified for index: {name}")
        if billing_mode == "PROVISIONED" and throughput is None:
            # dynalite creates such an index with 0/0; AWS refuses it (AWS-verified).
            raise ValidationException(f"{INVALID}ProvisionedThroughput is not specified for index: {name}")
        if name in names:
            raise ValidationException(f"{INVALID}Duplicate index name: {name}")
        names.add(name)
        specs.append(
            IndexSpec(
                name,
                GLOBAL,
                _index_key_schema(elements, attribute_types),
                projection_type,
                non_key_attributes,
                read_capacity_units=int(throughput["ReadCapacityUnits"]) if throughput else 0,
                write_capacity_units=int(throughput["WriteCapacityUnits"]) if throughput else 0,
            )
        )
    if len(indexes) > MAX_GLOBAL_INDEXES:
        raise ValidationException(
            f"{INVALID}GlobalSecondaryIndex count exceeds the per-table limit of {MAX_GLOBAL_INDEXES}"
        )
    return specs


def parse_secondary_indexes(
    body: dict[str, Any], table_schema: KeySchema, attribute_types: dict[str, str], billing_mode: str
) -> tuple[IndexSpec, ...]:
    """CreateTable's GlobalSecondaryIndexes and LocalSecondaryIndexes, validated as DynamoDB validates them:
    GSIs then LSIs, each in request order.

    The member constraints, the empty lists and the AttributeDefinitions are checked again here so that this
    function refuses what DynamoDB refuses on its own; CreateTable's parser checks them earlier, in DynamoDB's
    order (with the table's), and then they pass here."""
    problems = secondary_index_problems(body)
    if problems:
        raise validation_errors_detected(problems)
    check_index_lists_not_empty(body)
    check_attribute_definitions(list(attribute_types), table_schema.key_names, key_names_of_indexes(body))
    local = _objects(body, _LOCAL_FIELD)
    global_ = _objects(body, _GLOBAL_FIELD)
    names: set[str] = set()
    local_specs = _local_indexes(local, table_schema, attribute_types, names) if local is not None else []
    global_specs = global_index_specs(global_, attribute_types, billing_mode, names) if global_ is not None else []
    specs = (*global_specs, *local_specs)
    if sum(len(spec.non_key_attributes) for spec in specs) > MAX_NON_KEY_ATTRIBUTES:
        # The limit is the API reference's; this wording is unverified (no AWS answer to compare with).
        raise ValidationException(
            f"{INVALID}Number of projected attributes in all indexes exceeds limit of {MAX_NON_KEY_ATTRIBUTES}"
        )
    return specs


# ---------------------------------------------------------------------------- TableDescription


def _key_schema_json(schema: KeySchema) -> list[dict[str, str]]:
    elements = [{"AttributeName": schema.hash_name, "KeyType": "HASH"}]
    if schema.range_name is not None:
        elements.append({"AttributeName": schema.range_name, "KeyType": "RANGE"})
    return elements


def _projection_json(spec: IndexSpec) -> dict[str, Any]:
    projection: dict[str, Any] = {"ProjectionType": spec.projection_type}
    if spec.non_key_attributes:
        # DescribeTable returns them sorted by name, whatever order CreateTable had (AWS-verified).
        projection["NonKeyAttributes"] = sorted(spec.non_key_attributes)
    return projection


def describe_indexes(
    specs: Sequence[IndexSpec],
    status: str,
    table_arn: str,
    creating: Sequence[str] = (),
    stats: Mapping[str, Sequence[int]] | None = None,
) -> dict[str, Any]:
    """The TableDescription fields {"GlobalSecondaryIndexes": [...], "LocalSecondaryIndexes": [...]} (each key
    only when there are such indexes), in DynamoDB's shape; indexes keep their CreateTable order. `creating`:
    the GSIs UpdateTable added that are still backfilling (the table is UPDATING, the others ACTIVE); `stats`:
    each index's [ItemCount, IndexSizeBytes] (0 when not counted yet)."""
    described: dict[str, Any] = {}
    for spec in specs:
        entry: dict[str, Any] = {
            "IndexName": spec.name,
            "KeySchema": _key_schema_json(spec.key_schema),
            "Projection": _projection_json(spec),
        }
        if spec.kind == GLOBAL and spec.name in creating:
            entry["IndexStatus"] = "CREATING"
            entry["Backfilling"] = True
        elif spec.kind == GLOBAL:
            entry["IndexStatus"] = "ACTIVE" if status == "UPDATING" else status
        if spec.kind == GLOBAL:
            entry["ProvisionedThroughput"] = {
                "NumberOfDecreasesToday": 0,
                "ReadCapacityUnits": spec.read_capacity_units,
                "WriteCapacityUnits": spec.write_capacity_units,
            }
        count, size = (stats or {}).get(spec.name, (0, 0))
        entry.update({"IndexSizeBytes": size, "ItemCount": count, "IndexArn": f"{table_arn}/index/{spec.name}"})
        field_name = _GLOBAL_FIELD if spec.kind == GLOBAL else _LOCAL_FIELD
        described.setdefault(field_name, []).append(entry)
    return described
