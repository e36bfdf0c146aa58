"""A boto3 DynamoDB client configured for honest outcomes, and table setup.

Retries are off: a retried write that timed out could be applied twice or at an unknown time,
and the history would claim one operation where the store saw two. Timeouts are short and
bounded so an unanswered request becomes `info` quickly instead of blocking a user.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

PARTITION_KEY = "pk"
DEFAULT_CONNECT_TIMEOUT_S = 1.0
DEFAULT_READ_TIMEOUT_S = 3.0
TABLE_ACTIVE_TIMEOUT_S = 60.0
TABLE_POLL_INTERVAL_S = 0.2


@dataclass(frozen=True)
class ClientSettings:
    endpoint_url: str
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S
    max_connections: int = 64
    region: str = "us-east-1"


def make_client(settings: ClientSettings, session: Any | None = None) -> Any:
    """Low-level client: attribute values stay in DynamoDB's wire form (`{"N": "4"}`).

    `session`: a boto3 Session to build it from. Clients of one session share its loaded service model, so
    a second client costs milliseconds instead of tens (seconds on a busy machine, where a Locust worker
    blocked that long misses its heartbeats). A Session is not thread-safe: share it within one thread.
    """
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=settings.connect_timeout_s,
        read_timeout=settings.read_timeout_s,
        max_pool_connections=settings.max_connections,
    )
    # Our routers and emulators do not check signatures; fixed credentials keep a fresh machine
    # from searching for real ones (instance metadata lookups would add seconds of timeouts).
    return (session or boto3.session.Session()).client(
        "dynamodb",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        aws_access_key_id="loadgen",
        aws_secret_access_key="loadgen",
        config=config,
    )


class TableNotReadyError(RuntimeError):
    """The table did not become ACTIVE in time: the store is not ready for load."""


def ensure_table(
    client: Any,
    table: str,
    timeout_s: float = TABLE_ACTIVE_TIMEOUT_S,
    clock: Callable[[], float] = time.monotonic,
    sort_key: str | None = None,
    global_index: tuple[dict[str, Any], list[dict[str, str]]] | None = None,
) -> None:
    """Create `table` (hash key `pk`, type S; with `sort_key`, that range key, type N; with `global_index`,
    that GSI and its key's attribute definitions) unless it exists, then wait until it is ACTIVE. A table
    that exists with another key schema or without the index is refused: the workload's items would
    overwrite one another, or its reads would find no index.

    Several processes may race to create it: ResourceInUseException means another won. Connection
    errors and a ResourceNotFound right after creation are retried until the deadline, because an
    endpoint may still be starting.
    """
    deadline_s = clock() + timeout_s
    last_problem = "no answer yet"
    while clock() < deadline_s:
        try:
            description = client.describe_table(TableName=table)["Table"]
            status = description["TableStatus"]
            if status == "ACTIVE":
                _check_key_schema(table, description.get("KeySchema", []), sort_key)
                if global_index is not None:
                    _check_index(table, description, global_index[0]["IndexName"])
                return
            last_problem = f"status {status}"
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code != "ResourceNotFoundException":
                last_problem = repr(error)
            else:
                try:
                    client.create_table(
                        TableName=table,
                        KeySchema=_key_schema(sort_key),
                        AttributeDefinitions=[{"AttributeName": PARTITION_KEY, "AttributeType": "S"}]
                        + ([{"AttributeName": sort_key, "AttributeType": "N"}] if sort_key else [])
                        + (global_index[1] if global_index else []),
                        BillingMode="PAY_PER_REQUEST",
                        **({"GlobalSecondaryIndexes": [global_index[0]]} if global_index else {}),
                    )
                    continue
                except ClientError as create_error:
                    if create_error.response.get("Error", {}).get("Code") != "ResourceInUseException":
                        last_problem = repr(create_error)
                except BotoCoreError as create_error:
                    last_problem = repr(create_error)
        except BotoCoreError as error:
            last_problem = repr(error)
        time.sleep(TABLE_POLL_INTERVAL_S)
    raise TableNotReadyError(f"table {table!r} not ACTIVE within {timeout_s:g} s; last: {last_problem}")


def _key_schema(sort_key: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}]
    return schema + [{"AttributeName": sort_key, "KeyType": "RANGE"}] if sort_key else schema


def _check_key_schema(table: str, schema: list[dict[str, str]], sort_key: str | None) -> None:
    wanted = _key_schema(sort_key)
    if sorted(map(repr, schema)) != sorted(map(repr, wanted)):
        raise TableNotReadyError(f"table {table!r} exists with key schema {schema}, this workload needs {wanted}")


def _check_index(table: str, description: dict[str, Any], index_name: str) -> None:
    names = [index["IndexName"] for index in description.get("GlobalSecondaryIndexes", [])]
    if index_name not in names:
        raise TableNotReadyError(f"table {table!r} exists without the global secondary index {index_name!r} "
                                 f"this workload reads (it has {names or 'none'})")  # fmt: skip
