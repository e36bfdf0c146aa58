"""Bank workload (Jepsen's bank test over DynamoDB transactions): transfers between a few accounts with
TransactWriteItems, refused when they would leave the source negative, and reads of every account with
one TransactGetItems; verify/bank_checker.py judges the history (every read sees the same total, no
balance below zero).

Pure planning (randomness passed in); the requests are `execute_bank` below.
"""

from __future__ import annotations

import random
from typing import Any

from botocore.exceptions import ClientError

from loadgen.dynamodb_client import PARTITION_KEY
from loadgen.operations import PlannedOperation, check_weights

ACCOUNT_PREFIX = "acct-"
OPENING_BALANCE = 100
MAX_TRANSFER = 20
BALANCE_ATTRIBUTE = "balance"
BALANCE_NAMES = {"#b": BALANCE_ATTRIBUTE}


def account_name(number: int) -> str:
    return f"{ACCOUNT_PREFIX}{number}"


def bank_setup(accounts: int) -> dict[str, Any]:
    """The workload event that declares the accounts and the total every read must see."""
    return {"accounts": [account_name(n) for n in range(accounts)], "total": accounts * OPENING_BALANCE}


class BankWorkload:
    def __init__(self, accounts: int, rng: random.Random, read_weight: float = 1.0, transfer_weight: float = 1.0) -> None:
        if accounts < 2:
            raise ValueError(f"the bank workload needs at least 2 accounts, got {accounts}")
        check_weights(read_weight, transfer_weight)
        self.accounts = [account_name(n) for n in range(accounts)]
        self._rng = rng
        self._weights = (read_weight, transfer_weight)

    def plan(self) -> PlannedOperation:
        if self._rng.choices(("read", "transfer"), self._weights)[0] == "read":
            return PlannedOperation("read", None, None)
        source, target = self._rng.sample(self.accounts, 2)
        return PlannedOperation("transfer", None, {"from": source, "to": target, "amount": self._rng.randint(1, MAX_TRANSFER)})


def open_accounts(client: Any, table: str, accounts: list[str]) -> None:
    """Each account with its opening balance, unless it exists (every load process tries; one wins)."""
    for account in accounts:
        try:
            client.put_item(
                TableName=table,
                Item={PARTITION_KEY: {"S": account}, BALANCE_ATTRIBUTE: {"N": str(OPENING_BALANCE)}},
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": PARTITION_KEY},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise


def execute_bank(client: Any, table: str, accounts: list[str], operation: PlannedOperation) -> Any:
    if operation.function == "transfer":
        transfer(client, table, operation.value["from"], operation.value["to"], operation.value["amount"])
        return operation.value
    if operation.function == "read":
        return read_accounts(client, table, accounts)
    raise ValueError(f"unknown bank function {operation.function!r}")


def transfer(client: Any, table: str, source: str, target: str, amount: int) -> None:
    """Raises TransactionCanceledException (a ClientError) when `source` holds less than `amount` or a
    concurrent transaction holds either account."""
    value = {":a": {"N": str(amount)}}
    client.transact_write_items(TransactItems=[
        {"Update": {"TableName": table, "Key": {PARTITION_KEY: {"S": source}}, "UpdateExpression": "SET #b = #b - :a",
                    "ConditionExpression": "#b >= :a", "ExpressionAttributeNames": BALANCE_NAMES,
                    "ExpressionAttributeValues": value}},
        {"Update": {"TableName": table, "Key": {PARTITION_KEY: {"S": target}}, "UpdateExpression": "SET #b = #b + :a",
                    "ConditionExpression": "attribute_exists(#b)", "ExpressionAttributeNames": BALANCE_NAMES,
                    "ExpressionAttributeValues": value}},
    ])  # fmt: skip


def read_accounts(client: Any, table: str, accounts: list[str]) -> dict[str, int]:
    """Every account's balance as of one moment (one TransactGetItems)."""
    answer = client.transact_get_items(
        TransactItems=[{"Get": {"TableName": table, "Key": {PARTITION_KEY: {"S": account}}}} for account in accounts]
    )
    balances = {}
    for account, response in zip(accounts, answer["Responses"], strict=True):
        item = response.get("Item")
        if item is None or BALANCE_ATTRIBUTE not in item:
            raise ValueError(f"account {account} is missing")  # recorded as a failed read, never as a zero
        balances[account] = int(item[BALANCE_ATTRIBUTE]["N"])
    return balances
