"""Create the canary table on an endpoint if it is missing, and wait until it is ACTIVE."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from canaries.probe import HASH_KEY_ATTRIBUTE

POLL_INTERVAL_S = 0.2


class TableSetupError(RuntimeError):
    """The table could not be made ACTIVE at an endpoint before the deadline."""


def ensure_table(
    client: Any, table: str, timeout_s: float, clock: Callable[[], float] = time.monotonic
) -> None:
    """Create ``table`` (hash key ``pk``, string) unless it exists; return once it is ACTIVE.

    Another canary may create the same table at the same moment: ``ResourceInUseException``
    then just means someone else won the race. Connection errors are retried until the
    deadline because an endpoint may still be starting.
    """
    deadline_s = clock() + timeout_s
    last_error: Exception | None = None
    while clock() < deadline_s:
        try:
            status = client.describe_table(TableName=table)["Table"]["TableStatus"]
            if status == "ACTIVE":
                return
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code != "ResourceNotFoundException":
                last_error = error
            else:
                try:
                    client.create_table(
                        TableName=table,
                        KeySchema=[{"AttributeName": HASH_KEY_ATTRIBUTE, "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": HASH_KEY_ATTRIBUTE, "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST",
                    )
                    continue
                except ClientError as create_error:
                    if create_error.response.get("Error", {}).get("Code") != "ResourceInUseException":
                        last_error = create_error
                except BotoCoreError as create_error:
                    last_error = create_error
        except BotoCoreError as error:
            last_error = error
        time.sleep(POLL_INTERVAL_S)
    raise TableSetupError(f"table {table!r} not ACTIVE within {timeout_s} s; last error: {last_error!r}")
