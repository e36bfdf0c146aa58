"""The README's example of a user's own game-day test, written with the plugin's fixtures."""

from __future__ import annotations

import threading
import time

import pytest
from botocore.exceptions import ClientError

from chaos.schedule import PlannedFault
from gameday.checks.history import check_history_file

pytestmark = pytest.mark.cluster


def test_writes_and_reads_stay_linearizable_through_a_leader_kill(
    gameday_cluster, gameday_dynamodb, gameday_history, gameday_chaos  # noqa: ANN001
) -> None:
    client = gameday_dynamodb("az-a")
    client.create_table(
        TableName="accounts", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )  # fmt: skip
    client.get_waiter("table_exists").wait(TableName="accounts", WaiterConfig={"Delay": 0.2})
    stop = threading.Event()

    def writer(process: int) -> None:
        own = gameday_dynamodb(["az-a", "az-b", "az-c"][process % 3])
        value = process * 100_000
        while not stop.is_set():
            value += 1
            gameday_history.invoke(process, "write", "balance", value)
            try:
                own.put_item(TableName="accounts", Item={"pk": {"S": "balance"}, "v": {"N": str(value)}})
            except ClientError:
                gameday_history.complete(process, "info", "write", "balance", value)
                return  # a process that saw info never issues again
            gameday_history.complete(process, "ok", "write", "balance", value)
            gameday_history.invoke(process, "read", "balance", None)
            item = own.get_item(TableName="accounts", Key={"pk": {"S": "balance"}}, ConsistentRead=True).get("Item")
            gameday_history.complete(process, "ok", "read", "balance", int(item["v"]["N"]) if item else None)

    threads = [threading.Thread(target=writer, args=(process,)) for process in range(3)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        kill = PlannedFault(start_s=0.0, heal_s=2.0, kind="kill-leader", target={"of": "partition", "index": 0})
        outcome = gameday_chaos.run([kill], threading.Event(), time.monotonic())
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert outcome.faults_started == 1
    verdict = check_history_file(gameday_history.path, "register").verdict
    assert verdict["valid"] is True, verdict
    assert verdict["nemesis_event_count"] == 2  # start-kill-leader and stop-kill-leader
