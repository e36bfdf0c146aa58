"""UpdateTable's request: parsed and validated as DynamoDB does, in two steps. Pure.

`parse_update_table` checks what needs no table (the body's shape, member constraints, the rules between
members), in dynalite's order and with its wording where AWS agrees. What needs the table is checked by the
backend once it holds it: `create_index_specs` (Create, Delete and Update targets, AttributeDefinitions) and
`table_throughput_change_problem` (billing mode and throughput against the table's).

Where dynalite (our local oracle) and AWS differ, AWS wins and a comment says so. "AWS-verified" marks behaviour
seen on the real service by public test suites (scylladb's alternator tests, which run against AWS); "AWS
catalogue" marks a message text recorded from live AWS answers by a public lab (ack-api-quirks' DynamoDB
ValidationException catalogue), whose triggering request is not always given.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from cluster.api.attribute_values import SCALAR_TYPES, KeySchema
from cluster.api.errors import (
    LimitExceededException,
    ResourceNotFoundException,
    ValidationException,
    validation_errors_detected,
)
from cluster.api.secondary_indexes import (
    INVALID,
    IndexSpec,
    _key_schema_problems,
    _not_null,
    _objects,
    _projection_problems,
    _string,
    _throughput_problems,
    _violation,
    check_attribute_definitions,
    global_index_specs,
    named_index_problems,
)
from cluster.api.table_names import table_name_problems

PROVISIONED = "PROVISIONED"
PAY_PER_REQUEST = "PAY_PER_REQUEST"
BILLING_MODES = (PROVISIONED, PAY_PER_REQUEST)
MAX_CAPACITY_UNITS = 1_000_000_000_000  # dynalite's bound; above it AWS answers "out of bounds"
MAX_REPORTED_PROBLEMS = 10  # dynalite stops collecting member-constraint violations at 10
_ACTIONS = ("Update", "Create", "Delete")  # dynalite checks an update's members in this order

# The members that make an UpdateTable do something, in AWS's order and by the names its message uses
# ("UpdateStreamEnabled" is StreamSpecification). AWS-catalogue text: the list leaves out the members the
# request has, and MultiRegionConsistency alone does not count (it goes with ReplicaUpdates).
_CHANGE_MEMBERS = (
    ("ProvisionedThroughput", "ProvisionedThroughput"),
    ("BillingMode", "BillingMode"),
    ("UpdateStreamEnabled", "StreamSpecification"),
    ("GlobalSecondaryIndexUpdates", "GlobalSecondaryIndexUpdates"),
    ("SSESpecification", "SSESpecification"),
    ("ReplicaUpdates", "ReplicaUpdates"),
    ("MultiAccountReplicaReady", "MultiAccountReplicaReady"),
    ("ReplicaTransitRoleArn", "ReplicaTransitRoleArn"),
    ("MultiRegionConsistency", "MultiRegionConsistency"),
    ("DeletionProtectionEnabled", "DeletionProtectionEnabled"),
    ("OnDemandThroughput", "OnDemandThroughput"),
    ("WarmThroughput", "WarmThroughput"),
    ("TableClass", "TableClass"),
)
_NOT_A_CHANGE_ALONE = ("MultiRegionConsistency",)
# Members of DynamoDB's UpdateTable this store has nothing behind: refused rather than ignored, so that a
# client is never told a change happened that did not.
_UNSUPPORTED_MEMBERS = (
    "SSESpecification",
    "ReplicaUpdates",
    "GlobalTableWitnessUpdates",
    "MultiRegionConsistency",
    "MultiAccountReplicaReady",
    "ReplicaTransitRoleArn",
    "OnDemandThroughput",
    "WarmThroughput",
)


@dataclass(frozen=True)
class GlobalIndexThroughput:
    index_name: str
    read_capacity_units: int
    write_capacity_units: int


@dataclass(frozen=True)
class UpdateTableRequest:
    table_name: str
    billing_mode: str | None  # as sent (PROVISIONED | PAY_PER_REQUEST) or None
    read_capacity_units: int | None  # the table's ProvisionedThroughput, when sent
    write_capacity_units: int | None
    attribute_definitions: dict[str, str] | None  # name -> S|N|B, when sent
    # Each GlobalSecondaryIndexUpdates[].Create member as sent, its member constraints checked; it becomes an
    # IndexSpec in create_index_specs, once the table is known.
    create_indexes: tuple[dict[str, Any], ...] = ()
    delete_indexes: tuple[str, ...] = ()
    update_indexes: tuple[GlobalIndexThroughput, ...] = ()


# ---------------------------------------------------------------------------- the body alone


def _object(container: dict[str, Any], field_name: str) -> dict[str, Any] | None:
    value = container.get(field_name)
    if value is not None and not isinstance(value, dict):
        raise ValidationException(f"Expected an object for {field_name}")
    return value


def _index_update_problems(updates: list[dict[str, Any]]) -> list[str]:
    """The member constraints of GlobalSecondaryIndexUpdates, in dynalite's order. Unlike dynalite, a Create
    may leave out ProvisionedThroughput (AWS-verified: a PAY_PER_REQUEST table's index has none); whether it
    must have one depends on the table's billing mode (create_index_specs)."""
    problems: list[str] = []
    for position, update in enumerate(updates, start=1):
        prefix = f"globalSecondaryIndexUpdates.{position}.member."
        action = _object(update, "Update")
        if action is not None:
            member = prefix + "update."
            problems += named_index_problems(action, member)
            if _object(action, "ProvisionedThroughput") is None:
                # dynalite's rule; AWS now lets an Update carry OnDemandThroughput or WarmThroughput instead,
                # which this store does not have, so without throughput an Update changes nothing here.
                problems.append(_not_null(member + "provisionedThroughput"))
            else:
                problems += _throughput_problems(action, member)
        action = _object(update, "Create")
        if action is not None:
            member = prefix + "create."
            problems += _projection_problems(action, member)
            problems += named_index_problems(action, member)
            problems += _throughput_problems(action, member)
            problems += _key_schema_problems(action, member)
        action = _object(update, "Delete")
        if action is not None:
            problems += named_index_problems(action, prefix + "delete.")
    return problems


def _member_problems(body: dict[str, Any], updates: list[dict[str, Any]]) -> list[str]:
    """Every member-constraint violation, reported together as DynamoDB does. AttributeDefinitions (which
    dynalite does not know for UpdateTable) first, as in CreateTable's input shape; then dynalite's order."""
    problems: list[str] = []
    for position, definition in enumerate(_objects(body, "AttributeDefinitions") or [], start=1):
        member = f"attributeDefinitions.{position}.member."
        if _string(definition, "AttributeName") is None:
            problems.append(_not_null(member + "attributeName"))
        attribute_type = _string(definition, "AttributeType")
        if attribute_type is None:
            problems.append(_not_null(member + "attributeType"))
        elif attribute_type not in SCALAR_TYPES:
            problems.append(
                _violation(
                    attribute_type, member + "attributeType", "Member must satisfy enum value set: [B, N, S]"
                )
            )
    table_name = _string(body, "TableName")
    # AWS's wording and place (AWS catalogue: "1 validation error detected: Value 'ab' at 'tableName'..."); dynalite
    # answers a missing or short name with a sentence of its own before anything else.
    problems += (
        [_not_null("tableName")] if table_name is None else table_name_problems(table_name, "tableName")
    )
    if _object(body, "ProvisionedThroughput") is not None:
        problems += _throughput_problems(body, "")
    billing_mode = _string(body, "BillingMode")
    if billing_mode is not None and billing_mode not in BILLING_MODES:
        problems.append(
            _violation(
                billing_mode,
                "billingMode",
                f"Member must satisfy enum value set: [{', '.join(BILLING_MODES)}]",
            )
        )
    stream = _object(body, "StreamSpecification")
    if stream is not None and stream.get("StreamEnabled") is None:
        problems.append(_not_null("streamSpecification.streamEnabled"))  # a required member of the shape
    problems += _index_update_problems(updates)
    return problems


def _check_some_change(body: dict[str, Any]) -> None:
    sent = [
        shown
        for shown, field_name in _CHANGE_MEMBERS
        if body.get(field_name) is not None
        and body.get(field_name) != []  # an empty list is no update (dynalite)
    ]
    if any(shown not in _NOT_A_CHANGE_ALONE for shown in sent):
        return
    # dynalite still says "...GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required";
    # AWS lists the members it has added since (AWS catalogue, seen in two regions).
    listed = [shown for shown, _ in _CHANGE_MEMBERS if shown not in sent]
    raise ValidationException(f"At least one of {', '.join(listed[:-1])} or {listed[-1]} is required")


def _check_index_updates(updates: list[dict[str, Any]]) -> None:
    """dynalite's rules between the updates (each names one action; one update per index), in its order."""
    names: set[str] = set()
    for update in updates:
        actions = [action for action in _ACTIONS if update.get(action) is not None]
        if not actions:
            raise ValidationException(
                f"{INVALID}One of GlobalSecondaryIndexUpdate.Update, GlobalSecondaryIndexUpdate.Create, "
                "GlobalSecondaryIndexUpdate.Delete must not be null"
            )
        if len(actions) > 1:
            # AWS refuses two actions in one update (AWS-verified; text from the AWS catalogue); dynalite
            # takes the first.
            raise ValidationException(
                f"{INVALID}Only one global secondary index action is allowed per GlobalSecondaryIndexUpdate object"
            )
        name = update[actions[0]]["IndexName"]
        if name in names:
            raise ValidationException(
                f"{INVALID}Only one global secondary index update per index is allowed simultaneously. Index: {name}"
            )
        names.add(name)


def _check_unsupported_members(body: dict[str, Any], table_name: str) -> None:
    for field_name in _UNSUPPORTED_MEMBERS:
        if body.get(field_name) is not None:
            raise ValidationException(f"Parameter {field_name} is not supported by this store")
    table_class = _string(body, "TableClass")
    if table_class is not None and table_class != "STANDARD":  # every table here is STANDARD already
        raise ValidationException(f"Parameter TableClass {table_class} is not supported by this store")
    protection = body.get("DeletionProtectionEnabled")
    if protection is not None and not isinstance(protection, bool):
        raise ValidationException(
            f"Expected a boolean for DeletionProtectionEnabled, got {type(protection).__name__}"
        )
    if protection:  # false is what every table here has: a no-op, as on AWS
        raise ValidationException("Parameter DeletionProtectionEnabled is not supported by this store")
    stream = body.get("StreamSpecification")
    if stream is not None:
        if not isinstance(stream["StreamEnabled"], bool):
            raise ValidationException("Expected a boolean for StreamEnabled")
        if stream["StreamEnabled"]:
            raise ValidationException(
                "Parameter StreamSpecification is not supported by this store; streams do not exist"
            )
        # No table here has a stream: AWS's answer to disabling one that is not there (AWS catalogue).
        raise ValidationException(f"Table has no stream to disable: TableName: {table_name}")


def parse_update_table(body: dict[str, Any]) -> UpdateTableRequest:
    """UpdateTable's body, checked as far as it can be without the table; raises ValidationException (or
    LimitExceededException) with DynamoDB's message."""
    if not isinstance(body, dict):
        raise ValidationException("The request body must be a JSON object")
    updates = _objects(body, "GlobalSecondaryIndexUpdates") or []
    problems = _member_problems(body, updates)
    if problems:
        raise validation_errors_detected(problems[:MAX_REPORTED_PROBLEMS])
    table_name: str = body["TableName"]
    throughput = body.get("ProvisionedThroughput")
    billing_mode = body.get("BillingMode")
    # dynalite's rules between members (validations/updateTable.js custom()), in its order.
    _check_some_change(body)
    if billing_mode == PROVISIONED and throughput is None:
        raise ValidationException(
            f"{INVALID}ProvisionedThroughput must be specified when BillingMode is PROVISIONED"
        )
    for field_name in ("ReadCapacityUnits", "WriteCapacityUnits"):
        if throughput is not None and throughput[field_name] > MAX_CAPACITY_UNITS:
            raise ValidationException(
                f"Given value {throughput[field_name]} for {field_name} is out of bounds"
            )
    _check_index_updates(updates)
    # AWS's rules dynalite does not have.
    if body.get("GlobalSecondaryIndexUpdates") == []:
        # Alone, an empty list is "no change" (above); beside another member AWS names it (AWS catalogue).
        raise ValidationException(f"{INVALID}List of GlobalSecondaryIndexUpdates is empty")
    creates_and_deletes = [update for update in updates if update.get("Create") or update.get("Delete")]
    if len(creates_and_deletes) > 1:
        # AWS-verified: two Creates, two Deletes, or one of each. The text is dynalite's (it answers so to more
        # than 5 updates); AWS's own is unverified.
        raise LimitExceededException(
            "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table"
        )
    for update in updates:
        index_throughput = (update.get("Update") or {}).get("ProvisionedThroughput") or {}
        largest = max(
            index_throughput.get("ReadCapacityUnits", 0), index_throughput.get("WriteCapacityUnits", 0)
        )
        if largest > MAX_CAPACITY_UNITS:
            # dynalite answers so once it has found the table (actions/updateTable.js); nothing else comes first.
            raise ValidationException(
                "This operation cannot be performed with given input values. Please contact DynamoDB service team "
                "for more info: Action Blocked: IndexUpdate"
            )
    definitions = _objects(body, "AttributeDefinitions")
    attribute_types: dict[str, str] | None = None
    if definitions is not None:
        attribute_types = {}
        for definition in definitions:
            name = definition["AttributeName"]
            if name in attribute_types:  # CreateTable's message, AWS-verified there
                raise ValidationException(f"Attribute Name is duplicated: {name}")
            attribute_types[name] = definition["AttributeType"]
    _check_unsupported_members(body, table_name)
    return UpdateTableRequest(
        table_name=table_name,
        billing_mode=billing_mode,
        read_capacity_units=int(throughput["ReadCapacityUnits"]) if throughput is not None else None,
        write_capacity_units=int(throughput["WriteCapacityUnits"]) if throughput is not None else None,
        attribute_definitions=attribute_types,
        create_indexes=tuple(update["Create"] for update in updates if update.get("Create") is not None),
        delete_indexes=tuple(
            update["Delete"]["IndexName"] for update in updates if update.get("Delete") is not None
        ),
        update_indexes=tuple(
            GlobalIndexThroughput(
                update["Update"]["IndexName"],
                int(update["Update"]["ProvisionedThroughput"]["ReadCapacityUnits"]),
                int(update["Update"]["ProvisionedThroughput"]["WriteCapacityUnits"]),
            )
            for update in updates
            if update.get("Update") is not None
        ),
    )


# ---------------------------------------------------------------------------- against the table


def _check_targets(
    request: UpdateTableRequest, existing_index_names: Collection[str], local_index_names: Collection[str]
) -> None:
    targets = [(name, "delete") for name in request.delete_indexes]
    targets += [(update.index_name, "update") for update in request.update_indexes]
    for name, verb in targets:
        if name in local_index_names:
            # AWS catalogue; AWS-verified that deleting an LSI is a ValidationException.
            raise ValidationException(f"Cannot {verb} an index that is not a GlobalSecondaryIndex: {name}")
        if name not in existing_index_names:
            # AWS's answer to an Update of a missing index (AWS catalogue); AWS-verified that a Delete gets this
            # error code too, its text is assumed the same.
            raise ResourceNotFoundException(
                f"Requested resource not found: Index {name} for table {request.table_name}"
            )


def _check_no_redefinition(
    index: dict[str, Any],
    attribute_types: dict[str, str],
    existing_attribute_types: dict[str, str],
    table_schema: KeySchema,
) -> None:
    """An attribute the table already defines keeps its type (AWS-verified; text from an AWS answer quoted by
    scylladb's test_gsi_key_type_conflict_on_update, where both schemas were one HASH key: how AWS shows a
    longer schema is unverified, so one element is shown)."""
    table_key_types = {table_schema.hash_name: "HASH"}
    if table_schema.range_name is not None:
        table_key_types[table_schema.range_name] = "RANGE"
    for element in index["KeySchema"]:
        name, key_type = element["AttributeName"], element["KeyType"]
        existing = existing_attribute_types.get(name)
        if existing is None or existing == attribute_types[name]:
            continue
        raise ValidationException(
            f"{INVALID}Attributes cannot be redefined. Please check that your attribute has the same type as "
            f"previously defined. Existing schema: Schema:[SchemaElement: key{{{name}:{existing}:"
            f"{table_key_types.get(name, key_type)}}}] New schema: Schema:[SchemaElement: key{{{name}:"
            f"{attribute_types[name]}:{key_type}}}]"
        )


def create_index_specs(
    request: UpdateTableRequest,
    table_schema: KeySchema,
    existing_attribute_types: dict[str, str],
    billing_mode: str,
    existing_index_names: set[str],
    *,
    local_index_names: Collection[str] = frozenset(),
) -> tuple[IndexSpec, ...]:
    """The Create actions as GLOBAL IndexSpecs, checked against the table as it is (the backend calls this once
    it knows the table); the Delete and Update actions' targets are checked here too.

    `existing_attribute_types`: the table's AttributeDefinitions; `billing_mode`: the table's, before this
    request (the request's BillingMode, when sent, is the one new indexes get); `existing_index_names`: every
    index of the table, global and local; `local_index_names`: its LSIs, which AWS refuses to delete or update
    with a message of their own. Raises ValidationException or ResourceNotFoundException."""
    for index in request.create_indexes:
        # AWS checks this before the index's schema (AWS-verified; exact text, which names no index, from
        # amazonka's IndexExists waiter and the AWS catalogue). The name may be an LSI's (AWS-verified).
        if index["IndexName"] in existing_index_names:
            raise ValidationException("Attempting to create an index which already exists")
    _check_targets(request, existing_index_names, local_index_names)
    if not request.create_indexes:
        return ()
    attribute_types = request.attribute_definitions
    if attribute_types is None:
        # AWS-verified that the definitions must come with the Create even when the table has them; text from
        # the AWS catalogue.
        raise ValidationException(
            f"{INVALID}AttributeDefinitions is not specified for index: {request.create_indexes[0]['IndexName']}"
        )
    key_names = [
        [element["AttributeName"] for element in index["KeySchema"]] for index in request.create_indexes
    ]
    # Only the new index's keys need definitions, not the table's (AWS-verified). A missing one gets
    # CreateTable's wording, unverified for UpdateTable.
    check_attribute_definitions(list(attribute_types), (), key_names, unused_allowed=True)
    for index in request.create_indexes:
        _check_no_redefinition(index, attribute_types, existing_attribute_types, table_schema)
    specs = global_index_specs(
        list(request.create_indexes),
        attribute_types,
        request.billing_mode or billing_mode,
        set(),
        updating=True,
    )
    return tuple(specs)


def _unchanged_message(subject: str, noun: str, current: tuple[int, int], requested: tuple[int, int]) -> str:
    return (
        f"The provisioned throughput for the {subject} will not change. The requested value equals the current "
        f"value. Current ReadCapacityUnits provisioned for the {noun}: {current[0]}. Requested ReadCapacityUnits: "
        f"{requested[0]}. Current WriteCapacityUnits provisioned for the {noun}: {current[1]}. Requested "
        f"WriteCapacityUnits: {requested[1]}. Refer to the Amazon DynamoDB Developer Guide for current limits and "
        "how to request higher limits."
    )


def table_throughput_change_problem(
    request: UpdateTableRequest,
    table_billing_mode: str,
    table_rcu: int,
    table_wcu: int,
    *,
    index_throughputs: Mapping[str, tuple[int, int]] | None = None,
) -> str | None:
    """The ValidationException message for a billing mode or throughput change the table refuses, or None: the
    checks of dynalite's actions/updateTable.js, in its order, and AWS's for index updates on an on-demand
    table. `index_throughputs`: the table's GSIs, name -> (read, write) capacity units, in the table's order;
    without it the index checks are skipped."""
    mode = request.billing_mode or table_billing_mode
    if request.read_capacity_units is not None and mode == PAY_PER_REQUEST:
        return (
            f"{INVALID}Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is "
            "PAY_PER_REQUEST"
        )
    if request.update_indexes and mode == PAY_PER_REQUEST:
        # AWS catalogue text for UpdateTable (dynalite lets it through); that an Update answers it is unverified.
        return (
            f"{INVALID}Neither ReadCapacityUnits nor WriteCapacityUnits can be specified for index: "
            f"{request.update_indexes[0].index_name} when BillingMode is PAY_PER_REQUEST"
        )
    indexes = index_throughputs or {}
    updated = {update.index_name for update in request.update_indexes}
    if request.billing_mode == PROVISIONED and table_billing_mode != PROVISIONED:
        remaining = [name for name in indexes if name not in updated]
        if remaining:
            return f"{INVALID}ProvisionedThroughput must be specified for index: {','.join(remaining)}"
    if request.read_capacity_units is not None and request.write_capacity_units is not None:
        requested = (request.read_capacity_units, request.write_capacity_units)
        if requested == (table_rcu, table_wcu):
            return _unchanged_message("table", "table", (table_rcu, table_wcu), requested)
    for update in request.update_indexes:
        current = indexes.get(update.index_name)
        requested = (update.read_capacity_units, update.write_capacity_units)
        if current is not None and (current[0], current[1]) == requested:
            # The first sentence is AWS's (AWS catalogue); the rest follows the table's message, unverified.
            # dynalite uses the table's message word for word here.
            return _unchanged_message(
                f"index {update.index_name}", "index", (current[0], current[1]), requested
            )
    return None
