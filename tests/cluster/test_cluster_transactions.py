"""TransactWriteItems and TransactGetItems through boto3 against a real cluster: atomic, serializable,
idempotent, and finished by the janitors when their coordinator is gone."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from chaos.faults.coordinator_kill import KillCoordinator
from chaos.faults.injector import FaultContext
from chaos.faults.leaders import LeaderView
from cluster.api.attribute_values import KeySchema, encode_key, partition_hash
from cluster.api.transaction_commands import TxnPrepareCommand, encode_txn_command
from cluster.deploy.local_processes import LocalCluster
from cluster.runtime.rpc import RpcError
from gameday.checks.history import check_history_file
from loadgen.bank_workload import OPENING_BALANCE
from loadgen.run import run_load
from tests.cluster.cluster_rpc import rpc, wait_until
from tests.cluster.conftest import create_tables, make_client
from tests.split.split_cluster_helpers import metadata_call, table_partitions

pytestmark = pytest.mark.cluster

SCHEMA = KeySchema("pk", "S")
ACCOUNTS = 8
WANTED_COMMITS = 25


@pytest.fixture(scope="module")
def client(data_plane_cluster: LocalCluster):  # noqa: ANN201
    client = make_client(data_plane_cluster.endpoints()["az-a"])
    create_tables(client, ["txn-accounts", "txn-audit"])
    return client


def _number(item: dict[str, Any], name: str) -> int:
    return int(item[name]["N"])


def _canceled(call) -> list[dict[str, Any]]:  # noqa: ANN001
    with pytest.raises(ClientError) as caught:
        call()
    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException", caught.value.response
    return caught.value.response["CancellationReasons"]


def _transfer(source: str, target: str, amount: int) -> list[dict[str, Any]]:
    return [
        {"Update": {"TableName": "txn-accounts", "Key": {"pk": {"S": source}},
                    "UpdateExpression": "SET balance = balance - :a", "ConditionExpression": "balance >= :a",
                    "ExpressionAttributeValues": {":a": {"N": str(amount)}}}},
        {"Update": {"TableName": "txn-accounts", "Key": {"pk": {"S": target}},
                    "UpdateExpression": "SET balance = balance + :a",
                    "ExpressionAttributeValues": {":a": {"N": str(amount)}}}},
    ]  # fmt: skip


def _read_all(client) -> list[dict[str, Any]] | None:  # noqa: ANN001
    """Every account in one TransactGetItems, or None when a transfer held one of them."""
    try:
        answer = client.transact_get_items(
            TransactItems=[{"Get": {"TableName": "txn-accounts", "Key": {"pk": {"S": f"acct-{n}"}}}}
                           for n in range(ACCOUNTS)]  # fmt: skip
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "TransactionCanceledException":
            return None
        raise
    return [response["Item"] for response in answer["Responses"]]


def test_a_transaction_commits_every_item_or_none(client) -> None:  # noqa: ANN001
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "txn-accounts", "Item": {"pk": {"S": "alice"}, "balance": {"N": "10"}}}},
            {"Put": {"TableName": "txn-audit", "Item": {"pk": {"S": "opened-alice"}}}},
        ]
    )
    reasons = _canceled(lambda: client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "txn-audit", "Item": {"pk": {"S": "never"}}}},
            {"ConditionCheck": {"TableName": "txn-accounts", "Key": {"pk": {"S": "alice"}},
                                "ConditionExpression": "balance > :m", "ExpressionAttributeValues": {":m": {"N": "50"}},
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        ]
    ))  # fmt: skip
    assert [reason["Code"] for reason in reasons] == ["None", "ConditionalCheckFailed"]
    assert reasons[1]["Item"] == {"pk": {"S": "alice"}, "balance": {"N": "10"}}
    assert "Item" not in client.get_item(TableName="txn-audit", Key={"pk": {"S": "never"}}, ConsistentRead=True)
    both = client.transact_get_items(TransactItems=[
        {"Get": {"TableName": "txn-accounts", "Key": {"pk": {"S": "alice"}}, "ProjectionExpression": "balance"}},
        {"Get": {"TableName": "txn-audit", "Key": {"pk": {"S": "opened-alice"}}}},
        {"Get": {"TableName": "txn-audit", "Key": {"pk": {"S": "nobody"}}}},
    ])  # fmt: skip
    assert both["Responses"] == [{"Item": {"balance": {"N": "10"}}}, {"Item": {"pk": {"S": "opened-alice"}}}, {}]
    with pytest.raises(ClientError) as caught:
        client.transact_write_items(TransactItems=[
            {"Put": {"TableName": "txn-audit", "Item": {"pk": {"S": "twice"}}}},
            {"Delete": {"TableName": "txn-audit", "Key": {"pk": {"S": "twice"}}}},
        ])  # fmt: skip
    assert caught.value.response["Error"]["Message"] == "Transaction request cannot include multiple operations on one item"
    with pytest.raises(ClientError) as caught:
        client.transact_write_items(TransactItems=[
            {"Update": {"TableName": "txn-audit", "Key": {"pk": {"S": "rekey"}}, "UpdateExpression": "SET pk = :n",
                        "ExpressionAttributeValues": {":n": {"S": "other"}}}},
        ])  # fmt: skip
    assert caught.value.response["Error"]["Message"] == (
        "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key"
    )


def test_a_client_request_token_makes_a_retry_harmless(client) -> None:  # noqa: ANN001
    increment = [{"Update": {"TableName": "txn-audit", "Key": {"pk": {"S": "counter"}},
                             "UpdateExpression": "ADD hits :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}}]  # fmt: skip
    for _ in range(3):
        client.transact_write_items(TransactItems=increment, ClientRequestToken="token-counter-1")
    item = client.get_item(TableName="txn-audit", Key={"pk": {"S": "counter"}}, ConsistentRead=True)["Item"]
    assert _number(item, "hits") == 1
    other = [{"Put": {"TableName": "txn-audit", "Item": {"pk": {"S": "counter"}}}}]
    with pytest.raises(ClientError) as caught:
        client.transact_write_items(TransactItems=other, ClientRequestToken="token-counter-1")
    assert caught.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    client.transact_write_items(TransactItems=increment, ClientRequestToken="token-counter-2")
    item = client.get_item(TableName="txn-audit", Key={"pk": {"S": "counter"}}, ConsistentRead=True)["Item"]
    assert _number(item, "hits") == 2


def test_concurrent_transfers_keep_the_total_in_every_transactional_read(
    data_plane_cluster: LocalCluster, client  # noqa: ANN001
) -> None:
    client.transact_write_items(TransactItems=[
        {"Put": {"TableName": "txn-accounts", "Item": {"pk": {"S": f"acct-{n}"}, "balance": {"N": str(OPENING_BALANCE)}}}}
        for n in range(ACCOUNTS)
    ])  # fmt: skip
    endpoints = list(data_plane_cluster.endpoints().values())
    # Runs at least 8 s and until enough transfers committed: on a busy machine most of them conflict.
    started = time.monotonic()
    outcomes: dict[str, int] = {}
    totals: list[int] = []
    lock = threading.Lock()

    def running() -> bool:
        elapsed = time.monotonic() - started
        with lock:
            committed = outcomes.get("committed", 0)
        return elapsed < 60.0 and (elapsed < 8.0 or committed < WANTED_COMMITS)

    def transfers(worker: int) -> None:
        own = make_client(endpoints[worker % len(endpoints)])
        rng = random.Random(worker)
        while running():
            source, target = rng.sample(range(ACCOUNTS), 2)
            try:
                own.transact_write_items(TransactItems=_transfer(f"acct-{source}", f"acct-{target}", rng.randint(1, 40)))
                outcome = "committed"
            except ClientError as error:
                reasons = error.response.get("CancellationReasons") or [{"Code": error.response["Error"]["Code"]}]
                outcome = "+".join(sorted({reason["Code"] for reason in reasons} - {"None"}))
            except Exception as error:  # noqa: BLE001 - shown in the assertion, not lost with the thread
                outcome = repr(error)
            with lock:
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
            time.sleep(0.02)  # leaves the readers a moment in which no transfer holds an account

    def reads(reader: int) -> None:
        own = make_client(endpoints[reader % len(endpoints)])
        while running():
            try:
                items = _read_all(own)
            except Exception as error:  # noqa: BLE001
                items, totals_error = None, repr(error)
                with lock:
                    outcomes[totals_error] = outcomes.get(totals_error, 0) + 1
            if items is not None:
                with lock:
                    totals.append(sum(_number(item, "balance") for item in items))
                    negative.extend(item for item in items if _number(item, "balance") < 0)

    negative: list[dict[str, Any]] = []
    threads = [threading.Thread(target=transfers, args=(n,)) for n in range(4)]
    threads += [threading.Thread(target=reads, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.get("committed", 0) >= WANTED_COMMITS, outcomes
    assert set(outcomes) <= {"committed", "ConditionalCheckFailed", "TransactionConflict",
                             "ConditionalCheckFailed+TransactionConflict"}, outcomes  # fmt: skip
    assert len(totals) >= 5 and set(totals) == {ACCOUNTS * OPENING_BALANCE}, (len(totals), set(totals), outcomes)
    assert not negative
    wait_until(lambda: _read_all(client) is not None, 20, "every lock released")
    final = _read_all(client)
    assert final is not None and sum(_number(item, "balance") for item in final) == ACCOUNTS * OPENING_BALANCE


def _prepare_directly(cluster: LocalCluster, table: str, pk: str, txn: str, value: str) -> None:
    """What a coordinator does before it dies: one item prepared on its partition's leader."""
    key = {"pk": {"S": pk}}
    item_hash = partition_hash(key, SCHEMA)
    partition = next(p for p in table_partitions(cluster, table) if p["hash_start"] <= item_hash < p["hash_end"])
    command = TxnPrepareCommand(txn, "put", item_hash, encode_key(key, SCHEMA), key, {**key, "v": {"S": value}})

    def prepared() -> bool:
        for member in partition["members"]:
            try:
                result = rpc(cluster, member, "node.propose", {"group": partition["group_id"],
                             "command": encode_txn_command(command).decode(), "hash": item_hash})  # fmt: skip
            except RpcError:
                continue  # not the leader
            assert result["status"] == "ok", result
            return True
        return False

    wait_until(prepared, 20, f"a leader of {partition['group_id']} took the prepare")


def _answers(client) -> bool:  # noqa: ANN001
    try:
        return bool(client.list_tables()["TableNames"])
    except BotoCoreError:
        return False


def test_the_janitor_finishes_what_a_dead_coordinator_left_by_the_ledgers_word(
    data_plane_cluster: LocalCluster, client  # noqa: ANN001
) -> None:
    # One coordinator registered and prepared, then died: the ledger never decided, the janitor cancels.
    _prepare_directly(data_plane_cluster, "txn-audit", "orphan-cancel", "dead-coordinator-1", "never")
    with pytest.raises(ClientError) as caught:
        client.put_item(TableName="txn-audit", Item={"pk": {"S": "orphan-cancel"}, "v": {"S": "plain"}})
    assert caught.value.response["Error"]["Code"] == "TransactionConflictException"
    assert metadata_call(data_plane_cluster, "meta.txn_begin", {"txn": "dead-coordinator-1"})["status"] == "ok"
    # The other is a real router killed by the kill-coordinator fault after the ledger recorded its commit
    # and before it wrote any item: the janitor must write both.
    fault = KillCoordinator({"az": "az-b", "decided": 1})
    context = FaultContext(data_plane_cluster, leaders=lambda: LeaderView({}))
    assert fault.start(context) == {"process_ids": ["router-b"], "az": "az-b", "point": "txn-after-commit-decision"}
    doomed = make_client(data_plane_cluster.endpoints()["az-b"])
    with pytest.raises((BotoCoreError, ClientError)):  # the connection dies with the router
        doomed.transact_write_items(TransactItems=[
            {"Put": {"TableName": "txn-audit", "Item": {"pk": {"S": f"orphan-commit-{n}"}, "v": {"S": "committed"}}}}
            for n in (1, 2)
        ])  # fmt: skip
    events: list[dict[str, Any]] = []
    wait_until(lambda: events.extend(fault.tick(context)) or events, 10, "the killed router powered on again")
    [event] = events
    old_pid = data_plane_cluster.pids()["router-b"]
    assert event["f"] == "coordinator-restart" and event["value"]["process_ids"] == ["router-b"]
    assert set(event["value"]["killed_pids"].values()) != {old_pid} == set(event["value"]["started_pids"].values())
    assert fault.heal(context) == {"process_ids": ["router-b"], "crashed": True}

    def value_of(pk: str) -> str | None:
        item = client.get_item(TableName="txn-audit", Key={"pk": {"S": pk}}, ConsistentRead=True).get("Item")
        return item["v"]["S"] if item else None

    def plain_put_accepted() -> bool:
        try:
            client.put_item(TableName="txn-audit", Item={"pk": {"S": "orphan-cancel"}, "v": {"S": "plain"}})
        except ClientError as error:
            assert error.response["Error"]["Code"] == "TransactionConflictException"
            return False
        return True

    wait_until(plain_put_accepted, 30, "the janitor released the abandoned lock")
    assert value_of("orphan-cancel") == "plain"
    wait_until(lambda: [value_of(f"orphan-commit-{n}") for n in (1, 2)] == ["committed"] * 2, 30,
               "the janitor committed both items of the decided transaction")  # fmt: skip
    # And the ledger holds the cancel the janitor recorded: a late coordinator could not commit now.
    late = metadata_call(data_plane_cluster, "meta.txn_decide", {"txn": "dead-coordinator-1", "decision": "commit"})
    assert late["decision"] == "cancel"
    wait_until(lambda: _answers(doomed), 20, "the restarted router serves again")


def test_the_bank_workload_under_locust_records_a_history_the_bank_checker_finds_valid(
    data_plane_cluster: LocalCluster, tmp_path: Path
) -> None:
    result = run_load(
        data_plane_cluster.endpoints(), "bank", users=4, duration_s=6, out_dir=tmp_path / "bank",
        table="txn-bank", keys=5, seed=3, wait_ms=5.0,
    )  # fmt: skip
    # Few on a busy machine, and many transfers cancelled (conflicts on 5 accounts, balances too low):
    # what matters is that some of each completed and every read saw the declared total.
    assert result.counts["transfer"].get("ok", 0) >= 3 and result.counts["read"].get("ok", 0) >= 3, result.counts
    check = check_history_file(result.history_path, "bank")
    assert check.verdict["valid"] is True, (check.verdict, check.explanations)
    assert check.verdict["expected_total"] == 5 * OPENING_BALANCE and check.verdict["total_source"] == "declared"


def test_the_list_append_workload_under_locust_records_a_history_elle_finds_valid(
    data_plane_cluster: LocalCluster, tmp_path: Path
) -> None:
    result = run_load(
        data_plane_cluster.endpoints(), "list-append", users=3, duration_s=6, out_dir=tmp_path / "lists",
        table="txn-lists", keys=4, seed=5, wait_ms=5.0,
    )  # fmt: skip
    assert result.counts["txn"].get("ok", 0) >= 6, result.counts
    check = check_history_file(result.history_path, "list-append")
    assert check.verdict["valid"] is True, (check.verdict, check.explanations)
    assert check.verdict["transaction_count"] >= 6
