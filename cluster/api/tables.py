"""Table metadata and its DynamoDB TableDescription shape."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from cluster.api.attribute_values import KeySchema
from cluster.api.requests import CreateTableRequest
from cluster.api.secondary_indexes import IndexSpec, describe_indexes

TABLE_STATUSES = ("CREATING", "ACTIVE", "DELETING", "UPDATING")


@dataclass
class TableInfo:
    name: str
    key_schema: KeySchema
    status: str
    creation_time_s: float
    table_id: str
    billing_mode: str
    read_capacity_units: int
    write_capacity_units: int
    partition_count: int
    item_count: int = 0
    size_bytes: int = 0
    indexes: list[dict[str, Any]] = field(default_factory=list)  # IndexSpec.to_json() of each, GSIs first
    # Every defined attribute's type (the table's and the indexes' keys); None: the table key's only.
    attribute_definitions: dict[str, str] | None = None
    # GSIs UpdateTable added that are still backfilling (IndexStatus CREATING), and the number the next
    # one's partition groups take (cluster/metadata/catalogue_updates.py).
    creating_indexes: list[str] = field(default_factory=list)
    next_index_number: int = 0
    # Each index's [ItemCount, IndexSizeBytes] as the leaders of its partitions (an LSI: the table's) last counted
    # them (DescribeTable only).
    index_stats: dict[str, list[int]] = field(default_factory=dict)

    def index_specs(self) -> list[IndexSpec]:
        return [IndexSpec.from_json(spec) for spec in self.indexes]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["key_schema"] = self.key_schema.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TableInfo:
        fields = dict(data)
        fields["key_schema"] = KeySchema.from_json(data["key_schema"])
        # Tables created before secondary indexes have neither field.
        fields["indexes"] = [dict(spec) for spec in data.get("indexes") or []]
        fields["attribute_definitions"] = data.get("attribute_definitions")
        fields["creating_indexes"] = list(data.get("creating_indexes") or [])
        fields["index_stats"] = dict(data.get("index_stats") or {})
        return cls(**fields)


def table_info_from_request(
    request: CreateTableRequest, table_id: str, creation_time_s: float, default_partition_count: int
) -> TableInfo:
    """A new table in CREATING state. The id and the time are passed in: this module reads no clock."""
    assert default_partition_count >= 1
    return TableInfo(
        name=request.table_name,
        key_schema=request.key_schema,
        status="CREATING",
        creation_time_s=creation_time_s,
        table_id=table_id,
        billing_mode=request.billing_mode,
        # PAY_PER_REQUEST tables report 0/0, as DynamoDB does.
        read_capacity_units=request.read_capacity_units or 0,
        write_capacity_units=request.write_capacity_units or 0,
        partition_count=request.partition_count or default_partition_count,
        indexes=[spec.to_json() for spec in request.indexes],
        attribute_definitions=dict(request.attribute_definitions) if request.attribute_definitions else None,
    )


def table_arn(name: str, region: str, account: str) -> str:
    return f"arn:aws:dynamodb:{region}:{account}:table/{name}"


def describe_table_json(
    table: TableInfo, region: str = "local", account: str = "000000000000"
) -> dict[str, Any]:
    """DynamoDB's TableDescription for DescribeTable, CreateTable and DeleteTable responses."""
    schema = table.key_schema
    key_schema = [{"AttributeName": schema.hash_name, "KeyType": "HASH"}]
    if schema.range_name is not None:
        key_schema.append({"AttributeName": schema.range_name, "KeyType": "RANGE"})
    # The table key's first, then the indexes' (AWS lists them sorted by name; ours keep the older order).
    types = {**schema.key_types(), **(table.attribute_definitions or {})}
    attribute_definitions = [{"AttributeName": name, "AttributeType": type_name} for name, type_name in types.items()]
    billing_summary: dict[str, Any] = {"BillingMode": table.billing_mode}
    if table.billing_mode == "PAY_PER_REQUEST":
        billing_summary["LastUpdateToPayPerRequestDateTime"] = table.creation_time_s
    arn = table_arn(table.name, region, account)
    return {
        "AttributeDefinitions": attribute_definitions,
        "TableName": table.name,
        "KeySchema": key_schema,
        "TableStatus": table.status,
        "CreationDateTime": table.creation_time_s,
        "ProvisionedThroughput": {
            "NumberOfDecreasesToday": 0,
            "ReadCapacityUnits": table.read_capacity_units,
            "WriteCapacityUnits": table.write_capacity_units,
        },
        "TableSizeBytes": table.size_bytes,
        "ItemCount": table.item_count,
        "TableArn": arn,
        "TableId": table.table_id,
        "BillingModeSummary": billing_summary,
        "DeletionProtectionEnabled": False,
        **describe_indexes(table.index_specs(), table.status, arn, table.creating_indexes, table.index_stats),
    }
