"""Time to Live (pure): the setting's transitions, which items expire, the requests' validation, and the
replicated catalogue command that keeps the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.api.errors import ValidationException
from cluster.api.requests import UpdateTimeToLiveRequest, parse_request
from cluster.api.time_to_live import change_ttl, describe_ttl, expiry_if_expired
from tests.split.test_split_catalogue import Catalogue, active_table


def test_ttl_goes_on_for_one_attribute_and_off_and_a_change_that_changes_nothing_is_refused() -> None:
    assert change_ttl(None, True, "expires") == ({"attribute": "expires"}, None)
    assert change_ttl({"attribute": "expires"}, True, "expires") == ({"attribute": "expires"}, "TimeToLive is already enabled")
    other = change_ttl({"attribute": "expires"}, True, "ttl")
    assert other == ({"attribute": "expires"}, "TimeToLive is active on a different AttributeName: current AttributeName is expires")
    assert change_ttl({"attribute": "expires"}, False, "expires") == (None, None)
    assert change_ttl(None, False, "expires") == (None, "TimeToLive is already disabled")
    assert describe_ttl(None) == {"TimeToLiveStatus": "DISABLED"}
    assert describe_ttl({"attribute": "e"}) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "e"}


@pytest.mark.parametrize(
    ("value", "expired"),
    [
        ({"N": "99"}, "99"),
        ({"N": "99.999"}, "99.999"),
        ({"N": "100"}, None),  # not below now
        ({"N": "1e9"}, None),
        ({"S": "5"}, None),  # only a Number expires
        ({"NS": ["5"]}, None),
        (None, None),
    ],
)
def test_an_item_expires_only_when_its_ttl_attribute_is_a_number_below_now(value: dict | None, expired: str | None) -> None:
    item = {"pk": {"S": "k"}} if value is None else {"pk": {"S": "k"}, "ttl": value}
    assert expiry_if_expired(item, "ttl", 100.0) == expired


def test_update_time_to_live_requests_are_validated_as_dynamodb_does() -> None:
    body = {"TableName": "tab", "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "ttl"}}
    assert parse_request("UpdateTimeToLive", body) == UpdateTimeToLiveRequest("tab", True, "ttl")
    with pytest.raises(ValidationException, match="Value null at 'timeToLiveSpecification' failed"):
        parse_request("UpdateTimeToLive", {"TableName": "tab"})
    with pytest.raises(ValidationException, match="2 validation errors.*enabled.*attributeName"):
        parse_request("UpdateTimeToLive", {"TableName": "tab", "TimeToLiveSpecification": {}})
    with pytest.raises(ValidationException, match="length between 1 and 255"):
        parse_request("UpdateTimeToLive", {"TableName": "tab", "TimeToLiveSpecification": {"Enabled": False, "AttributeName": ""}})
    with pytest.raises(ValidationException, match="Expected a boolean for Enabled"):
        parse_request("UpdateTimeToLive", {"TableName": "tab", "TimeToLiveSpecification": {"Enabled": "yes", "AttributeName": "t"}})
    assert parse_request("DescribeTimeToLive", {"TableName": "tab"}).table_name == "tab"


def test_the_catalogue_keeps_the_setting_across_a_restart_and_refuses_what_changes_nothing(tmp_path: Path) -> None:
    catalogue = Catalogue(tmp_path)
    entry = active_table(catalogue)
    assert entry.ttl is None and "ttl" not in entry.to_json()
    on = catalogue.apply({"op": "update_ttl", "name": "t", "enabled": True, "attribute": "expires"})
    assert on["status"] == "ok" and on["table"]["ttl"] == {"attribute": "expires"}
    again = catalogue.apply({"op": "update_ttl", "name": "t", "enabled": True, "attribute": "expires"})
    assert again == {"status": "invalid", "message": "TimeToLive is already enabled"}
    catalogue.reopen()
    assert catalogue.machine.tables["t"].ttl == {"attribute": "expires"}
    assert catalogue.apply({"op": "update_ttl", "name": "t", "enabled": False, "attribute": "expires"})["status"] == "ok"
    assert catalogue.machine.tables["t"].ttl is None
    missing = catalogue.apply({"op": "update_ttl", "name": "nope", "enabled": True, "attribute": "x"})
    assert missing == {"status": "not_found"}
