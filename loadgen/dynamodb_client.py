"""A boto3 DynamoDB client configured for honest outcomes, and table setup.

Retries are off: a retried write that timed out could be applied twice or at an unknown time,
and the history would claim one operation where the store saw two. Timeouts are short and
bounded so an unanswered request becomes `info` quickly instead of blocking a user.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

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


def make_client(settings: ClientSettings) -> Any:
    """Low-level client: attribute values stay in DynamoDB's wire form (`{"N": "4"}`)."""
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=settings.connect_timeout_s,
        read_timeout=settings.read_timeout_s,
        max_pool_connections=settings.max_connections,
    )
    # Our routers and emulators do not check signatures; fixed credentials keep a fresh machine
    # from searching for real ones (instance metadata lookups would add seconds of timeouts).
    return boto3.session.Session().client(
        "dynamodb",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        aws_access_key_id="loadgen",
        aws_secret_access_key="loadgen",
        config=config,
    )


class TableNotReadyError(RuntimeError):
    """The table did not become ACTIVE in time: the store is not ready for load."""


def ensure_table(client: Any, table: str, timeout_s: float = TABLE_ACTIVE_TIMEOUT_S) -> None:
    """Create `table` (hash key `pk`, type S) unless it exists, then wait until it is ACTIVE.

    Several load processes may race to create it: ResourceInUseException means another won.
    """
    try:
        client.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": PARTITION_KEY, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceInUseException":
            raise
    deadline_s = time.monotonic() + timeout_s
    status = "UNKNOWN"
    while time.monotonic() < deadline_s:
        try:
            status = client.describe_table(TableName=table)["Table"]["TableStatus"]
        except ClientError as error:
            # Right after creation some stores answer ResourceNotFound for a moment.
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            status = "NOT_FOUND"
        if status == "ACTIVE":
            return
        time.sleep(TABLE_POLL_INTERVAL_S)
    raise TableNotReadyError(f"table {table!r} is {status} after {timeout_s:g} s (expected ACTIVE)")
