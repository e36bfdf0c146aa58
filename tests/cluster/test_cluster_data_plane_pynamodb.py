"""PynamoDB models, used as a user would, against a real cluster: tables, items, updates, queries, batches."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    NumberSetAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TableDoesNotExist, UpdateError
from pynamodb.models import Model

from cluster.deploy.local_processes import LocalCluster

pytestmark = pytest.mark.cluster

PLACED_AT = datetime(2026, 12, 6, 15, 30, 45, 123456, tzinfo=UTC)


class ClusterMeta:
    """Connection settings every model here shares; the fixture points `host` at a router."""

    host: str | None = None
    region = "us-east-1"
    # Our routers do not check signatures; fixed credentials keep botocore from searching for real ones.
    aws_access_key_id = "pynamodb"
    aws_secret_access_key = "pynamodb"
    # The tests judge what the store answered: no retries behind their back (an ADD retried is an ADD twice).
    max_retry_attempts = 0
    connect_timeout_seconds = 2
    read_timeout_seconds = 10


class Address(MapAttribute):
    street = UnicodeAttribute()
    zip_code = NumberAttribute(null=True)


class Order(Model):
    class Meta(ClusterMeta):
        table_name = "pynamodb_orders"
        billing_mode = "PAY_PER_REQUEST"

    customer = UnicodeAttribute(hash_key=True)
    number = NumberAttribute(range_key=True)
    status = UnicodeAttribute(default="new")
    total = NumberAttribute(default=0)
    paid = BooleanAttribute(default=False)
    placed_at = UTCDateTimeAttribute(null=True)
    lines = ListAttribute(null=True)
    address = Address(null=True)
    tags = UnicodeSetAttribute(null=True)
    lucky_numbers = NumberSetAttribute(null=True)
    version = VersionAttribute()


class ProvisionedScratch(Model):
    """PynamoDB's defaults: PROVISIONED billing with explicit capacity units, hash key only."""

    class Meta(ClusterMeta):
        table_name = "pynamodb_scratch"
        # DynamoDB's smallest table: less than one unit per router (3), yet the first write and consistent
        # read are served, as DynamoDB's burst capacity serves them (retries are off here).
        read_capacity_units = 1
        write_capacity_units = 1

    name = UnicodeAttribute(hash_key=True)


def _create_table_and_wait(model: type[Model], timeout_s: float = 30.0) -> None:
    """create_table(wait=True) polls every 2 s, where our tables are active in a fraction of that."""
    model.create_table()
    deadline_s = time.monotonic() + timeout_s
    while model.describe_table()["TableStatus"] != "ACTIVE":
        assert time.monotonic() < deadline_s, f"{model.Meta.table_name} did not become ACTIVE within {timeout_s} s"
        time.sleep(0.1)


@pytest.fixture(scope="module", autouse=True)
def orders(data_plane_cluster: LocalCluster) -> Iterator[type[Order]]:
    ClusterMeta.host = data_plane_cluster.endpoints()["az-c"]
    _create_table_and_wait(Order)
    yield Order
    ClusterMeta.host = None


def _customer(request: pytest.FixtureRequest) -> str:
    """A partition of the shared table that belongs to one test."""
    return request.node.name


def _full_order(customer: str, number: int) -> Order:
    return Order(
        customer, number, status="placed", total=12.5, paid=True, placed_at=PLACED_AT,
        lines=["tea", 2, {"sku": "x1"}], address=Address(street="Main St 1", zip_code=10115),
        tags={"gift", "fragile"}, lucky_numbers={7, 13},
    )


def _values(model: Model) -> dict[str, object]:
    """The attributes a model holds, as Python values (to_simple_dict refuses number sets)."""
    values = {name: getattr(model, name) for name in model.get_attributes()}
    return {
        name: value.as_dict() if isinstance(value, MapAttribute) else value
        for name, value in values.items() if value is not None
    }


def test_create_table_describe_exists_and_delete_table() -> None:
    assert Order.exists()
    description = Order.describe_table()
    assert description["TableName"] == "pynamodb_orders" and description["TableStatus"] == "ACTIVE"
    assert {(key["AttributeName"], key["KeyType"]) for key in description["KeySchema"]} == {
        ("customer", "HASH"), ("number", "RANGE")
    }
    assert description["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"

    assert not ProvisionedScratch.exists()
    _create_table_and_wait(ProvisionedScratch)
    scratch = ProvisionedScratch.describe_table()
    assert scratch["ProvisionedThroughput"]["ReadCapacityUnits"] == 1
    assert scratch["ProvisionedThroughput"]["WriteCapacityUnits"] == 1
    ProvisionedScratch("one").save()
    assert ProvisionedScratch.get("one", consistent_read=True).name == "one"
    ProvisionedScratch.delete_table()
    assert not ProvisionedScratch.exists()
    with pytest.raises(TableDoesNotExist):
        ProvisionedScratch.describe_table()


def test_save_get_refresh_round_trip_every_attribute_type(request: pytest.FixtureRequest) -> None:
    customer = _customer(request)
    order = _full_order(customer, 1)
    order.save()
    assert order.version == 1

    stored = Order.get(customer, 1, consistent_read=True)
    assert _values(stored) == _values(order)
    assert stored.placed_at == PLACED_AT and stored.placed_at.tzinfo is not None
    assert stored.paid is True and stored.total == 12.5
    assert stored.lines == ["tea", 2, {"sku": "x1"}]
    assert stored.address.street == "Main St 1" and stored.address.zip_code == 10115
    assert stored.tags == {"gift", "fragile"} and stored.lucky_numbers == {7, 13}

    stored.status = "shipped"
    stored.save()
    assert order.status == "placed"
    order.refresh(consistent_read=True)
    assert (order.status, order.version) == ("shipped", 2)

    defaults = Order(customer, 2)
    defaults.save()
    assert _values(Order.get(customer, 2, consistent_read=True)) == {
        "customer": customer, "number": 2, "status": "new", "total": 0, "paid": False, "version": 1,
    }


def test_update_actions(request: pytest.FixtureRequest) -> None:
    customer = _customer(request)
    order = _full_order(customer, 1)
    order.save()
    order.update(actions=[
        Order.status.set("paid"),
        Order.total.add(2.5),
        Order.tags.add({"priority"}),
        Order.lucky_numbers.delete({7}),
        Order.lines.set(Order.lines.append(["last"])),
        Order.address.zip_code.remove(),
        Order.placed_at.remove(),
    ])
    # update() takes ALL_NEW into the instance: the local copy is the stored one.
    assert _values(order) == _values(Order.get(customer, 1, consistent_read=True))
    assert (order.status, order.total, order.version) == ("paid", 15, 2)
    assert order.tags == {"gift", "fragile", "priority"} and order.lucky_numbers == {13}
    assert order.lines == ["tea", 2, {"sku": "x1"}, "last"]
    assert order.address.zip_code is None and order.placed_at is None

    order.update(actions=[
        Order.lines.set(Order.lines.prepend(["first"])),
        Order.placed_at.set(Order.placed_at | PLACED_AT),  # if_not_exists: absent, so set
        Order.status.set(Order.status | "ignored"),  # if_not_exists: present, so kept
        Order.total.set(Order.total - 5),
        Order.lucky_numbers.add({1, 2}),
    ])
    # Its own update: a path inside `lines` overlaps the SET of `lines` above, which DynamoDB refuses.
    order.update(actions=[Order.lines[1].remove()])
    stored = Order.get(customer, 1, consistent_read=True)
    assert stored.lines == ["first", 2, {"sku": "x1"}, "last"]
    assert (stored.placed_at, stored.status, stored.total) == (PLACED_AT, "paid", 10)
    assert stored.lucky_numbers == {1, 2, 13} and stored.version == 4

    # ADD on an absent item creates it, as DynamoDB does.
    fresh = Order(customer, 2)
    fresh.update(actions=[Order.total.add(4), Order.tags.add({"new"})], add_version_condition=False)
    created = Order.get(customer, 2, consistent_read=True)
    assert (created.total, created.tags, created.version) == (4, {"new"}, 1)


def test_conditional_save_update_and_delete(request: pytest.FixtureRequest) -> None:
    customer = _customer(request)
    order = Order(customer, 1, total=10)
    order.save(condition=Order.customer.does_not_exist())
    with pytest.raises(PutError) as caught:
        Order(customer, 1).save(condition=Order.customer.does_not_exist(), add_version_condition=False)
    assert caught.value.cause_response_code == "ConditionalCheckFailedException"

    with pytest.raises(UpdateError) as caught:
        order.update(actions=[Order.status.set("big")], condition=Order.total > 10)
    assert caught.value.cause_response_code == "ConditionalCheckFailedException"
    order.update(actions=[Order.status.set("big")], condition=(Order.total >= 10) & Order.placed_at.does_not_exist())
    assert order.status == "big"

    with pytest.raises(DeleteError) as caught:
        order.delete(condition=Order.status.is_in("new", "placed"))
    assert caught.value.cause_response_code == "ConditionalCheckFailedException"
    assert Order.get(customer, 1, consistent_read=True).status == "big"
    order.delete(condition=Order.status.startswith("b") & Order.total.between(5, 10))
    with pytest.raises(DoesNotExist):
        Order.get(customer, 1, consistent_read=True)


def test_version_attribute_rejects_stale_writers(request: pytest.FixtureRequest) -> None:
    customer = _customer(request)
    Order(customer, 1).save()
    first = Order.get(customer, 1, consistent_read=True)
    second = Order.get(customer, 1, consistent_read=True)
    first.status = "first"
    first.save()
    assert first.version == 2

    second.status = "second"
    with pytest.raises(PutError) as caught:
        second.save()
    assert caught.value.cause_response_code == "ConditionalCheckFailedException"
    with pytest.raises(UpdateError) as caught:
        second.update(actions=[Order.status.set("second")])
    assert caught.value.cause_response_code == "ConditionalCheckFailedException"
    with pytest.raises(DeleteError) as caught:
        second.delete()
    assert caught.value.cause_response_code == "ConditionalCheckFailedException"
    stored = Order.get(customer, 1, consistent_read=True)
    assert (stored.status, stored.version) == ("first", 2)

    second.refresh(consistent_read=True)
    second.status = "second"
    second.save()
    assert Order.get(customer, 1, consistent_read=True).version == 3
    # A "write anyway" opts out of the check.
    first.save(add_version_condition=False)
    assert Order.get(customer, 1, consistent_read=True).status == "first"


def test_does_not_exist(request: pytest.FixtureRequest) -> None:
    customer = _customer(request)
    with pytest.raises(Order.DoesNotExist):
        Order.get(customer, 1, consistent_read=True)
    order = Order(customer, 1)
    order.save()
    order.delete()
    with pytest.raises(DoesNotExist):
        order.refresh(consistent_read=True)
    assert list(Order.query(customer, consistent_read=True)) == []


def test_query_range_conditions_filter_limit_pages_and_direction(request: pytest.FixtureRequest) -> None:
    customer = _customer(request)
    with Order.batch_write() as batch:
        for number in range(1, 31):
            batch.save(Order(customer, number, paid=number % 3 == 0, total=number * 10))

    def numbers(orders: Iterator[Order]) -> list[int]:
        return [order.number for order in orders]

    assert numbers(Order.query(customer, consistent_read=True)) == list(range(1, 31))
    assert numbers(Order.query(customer, Order.number.between(5, 8), consistent_read=True)) == [5, 6, 7, 8]
    assert numbers(Order.query(customer, Order.number > 27, consistent_read=True)) == [28, 29, 30]
    assert numbers(Order.query(customer, Order.number <= 2, consistent_read=True, scan_index_forward=False)) == [2, 1]
    assert numbers(Order.query(customer, scan_index_forward=False, limit=3, consistent_read=True)) == [30, 29, 28]
    paid = Order.query(customer, Order.number >= 10, filter_condition=Order.paid == True, consistent_read=True)  # noqa: E712
    assert numbers(paid) == [12, 15, 18, 21, 24, 27, 30]
    # The limit counts matching items across pages; page_size bounds what each request evaluates.
    limited = Order.query(customer, filter_condition=Order.total > 100, limit=4, page_size=7, consistent_read=True)
    assert numbers(limited) == [11, 12, 13, 14]

    # Resuming from a page's last evaluated key, as a web handler would between requests.
    first_page = Order.query(customer, limit=12, page_size=12, consistent_read=True)
    assert numbers(first_page) == list(range(1, 13))
    assert first_page.last_evaluated_key == {"customer": {"S": customer}, "number": {"N": "12"}}
    rest = Order.query(customer, last_evaluated_key=first_page.last_evaluated_key, page_size=10, consistent_read=True)
    assert numbers(rest) == list(range(13, 31))
    assert rest.last_evaluated_key is None

    assert Order.count(customer, consistent_read=True) == 30
    assert Order.count(customer, Order.number < 11, filter_condition=Order.paid == True, consistent_read=True) == 3  # noqa: E712


def test_scan_with_filter(request: pytest.FixtureRequest) -> None:
    customer = _customer(request)
    for number in range(1, 6):
        Order(customer, number, tags={f"scan-{number % 2}"}).save()
    odd = Order.scan(filter_condition=(Order.customer == customer) & Order.tags.contains("scan-1"), page_size=5, consistent_read=True)
    assert sorted(order.number for order in odd) == [1, 3, 5]
    everything = {(order.customer, order.number) for order in Order.scan(consistent_read=True)}
    assert {(customer, number) for number in range(1, 6)} <= everything
    segments = [
        {order.number for order in Order.scan(Order.customer == customer, segment=segment, total_segments=3, consistent_read=True)}
        for segment in range(3)
    ]
    assert sorted(number for segment in segments for number in segment) == [1, 2, 3, 4, 5]


def test_batch_write_and_batch_get_past_the_request_limits(request: pytest.FixtureRequest) -> None:
    customer = _customer(request)
    # 60 puts: PynamoDB commits every 25 inside the context manager and the rest on exit.
    with Order.batch_write() as batch:
        for number in range(60):
            batch.save(Order(customer, number, status=f"s{number}", lines=[number]))
    fetched = {order.number: order for order in Order.batch_get([(customer, number) for number in range(120)], consistent_read=True)}
    assert sorted(fetched) == list(range(60))
    assert all(fetched[number].status == f"s{number}" and fetched[number].lines == [number] for number in range(60))

    with Order.batch_write() as batch:
        for number in range(0, 60, 2):
            batch.delete(Order(customer, number))
        for number in range(60, 70):
            batch.save(Order(customer, number))
    remaining = [order.number for order in Order.query(customer, consistent_read=True)]
    assert remaining == list(range(1, 60, 2)) + list(range(60, 70))
    projected = list(Order.batch_get([(customer, 1), (customer, 3)], consistent_read=True, attributes_to_get=["status"]))
    assert sorted(order.status for order in projected) == ["s1", "s3"]
    assert all(order.total is None or order.total == 0 for order in projected)


class Session(Model):
    class Meta(ClusterMeta):
        table_name = "pynamodb_sessions"
        billing_mode = "PAY_PER_REQUEST"

    token = UnicodeAttribute(hash_key=True)
    expires = TTLAttribute(null=True)


def test_a_model_with_a_ttl_attribute_creates_its_table_with_ttl_on_and_expired_items_go() -> None:
    """create_table turns TTL on (UpdateTimeToLive); the store deletes what expired, keeps the rest."""
    _create_table_and_wait(Session)
    assert Session.describe_table()["TableName"] == "pynamodb_sessions"
    Session("old", expires=datetime.now(UTC) - timedelta(minutes=5)).save()
    Session("fresh", expires=timedelta(hours=1)).save()
    Session("forever").save()
    deadline_s = time.monotonic() + 20
    while Session.count("old", consistent_read=True):
        assert time.monotonic() < deadline_s, "the expired session is still there after 20 s"
        time.sleep(0.2)
    assert {session.token for session in Session.scan(consistent_read=True)} == {"fresh", "forever"}
    Session.delete_table()
