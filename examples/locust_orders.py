"""Bring your own workload: an order book on a range-key table, for `gameday run --locustfile`.

    gameday run smoke --locustfile examples/locust_orders.py --locust-users 4

Each customer's orders live in one item collection (partition key `pk` = the customer, range key `sk` =
the order number); item `sk = 0` holds the customer's order count. Placing an order increments the count
with UpdateItem `ADD` (which returns the new count) and writes the order under that number; checking a
customer Queries the count back and lists the orders. The count's increments and reads are recorded
(loadgen/recorder.py), so the game day judges them with its counter model: a lost or doubled increment
fails the run. Every request is counted in the report's per-operation table.

Outside a game day (no GAMEDAY_* variables) it runs against http://127.0.0.1:8000 and records nothing.
"""

from __future__ import annotations

import random
from typing import Any

from locust import User, between, events, task

from loadgen.dynamodb_client import ensure_table
from loadgen.recorder import GameDay, measure

CUSTOMERS = 3
game_day = GameDay.from_environment()
TABLE = f"orders-{game_day.seed}"  # a fresh table per run: counts left by an earlier run would lie


@events.test_start.add_listener
def create_table(**_: Any) -> None:
    ensure_table(game_day.dynamodb_client(game_day.endpoints[0]), TABLE, sort_key="sk")


def count_key(customer: str) -> str:
    return f"{customer}/count"  # the history key of a customer's counter


class OrderingCustomer(User):
    wait_time = between(0.05, 0.15)

    def on_start(self) -> None:
        self.endpoint = game_day.next_endpoint()  # users spread over the routers, round robin
        self.client = game_day.dynamodb_client(self.endpoint)
        self.recorder = game_day.recorder(self.endpoint)

    @task(3)
    def place_an_order(self) -> None:
        customer = f"customer-{random.randrange(CUSTOMERS)}"
        counted = self.recorder.record("incr", count_key(customer), 1, lambda: self._increment(customer), name="count order")
        if counted.outcome == "ok":
            number = counted.value
            measure("write order", lambda: self.client.put_item(
                TableName=TABLE, Item={"pk": {"S": customer}, "sk": {"N": str(number)}, "item": {"S": "book"}}
            ))  # fmt: skip

    @task(2)
    def check_a_customer(self) -> None:
        customer = f"customer-{random.randrange(CUSTOMERS)}"
        self.recorder.record("read", count_key(customer), None, lambda: self._read_count(customer), name="read count")
        measure("list orders", lambda: self.client.query(
            TableName=TABLE, KeyConditionExpression="pk = :c AND sk > :zero", ConsistentRead=True,
            ExpressionAttributeValues={":c": {"S": customer}, ":zero": {"N": "0"}},
        ))  # fmt: skip

    def _increment(self, customer: str) -> int:
        response = self.client.update_item(
            TableName=TABLE, Key={"pk": {"S": customer}, "sk": {"N": "0"}},
            UpdateExpression="ADD orders :one", ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )  # fmt: skip
        return int(response["Attributes"]["orders"]["N"])

    def _read_count(self, customer: str) -> int | None:
        response = self.client.query(
            TableName=TABLE, KeyConditionExpression="pk = :c AND sk = :zero", ConsistentRead=True,
            ExpressionAttributeValues={":c": {"S": customer}, ":zero": {"N": "0"}},
        )  # fmt: skip
        items = response.get("Items", [])
        return int(items[0]["orders"]["N"]) if items else None
