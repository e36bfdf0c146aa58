"""A Query's Items pass through the router as the JSON text the node stored: the response a client
decodes must be the one the decoded items would have given."""

from __future__ import annotations

import json
import zlib

from cluster.router.dynamodb_service import EncodedItems, json_response

ITEMS = [
    {"pk": {"S": "p"}, "sk": {"N": "1"}, "text": {"S": "caf\u00e9 \"quoted\" \\ slash"}},
    {"pk": {"S": "p"}, "sk": {"N": "2"}, "doc": {"M": {"l": {"L": [{"NULL": True}, {"BS": ["AA=="]}]}}}},
]


def _texts(items: list[dict]) -> EncodedItems:
    return EncodedItems([json.dumps(item, separators=(",", ":")) for item in items])


def test_encoded_items_give_the_body_decoded_items_give() -> None:
    rest = {"Count": 2, "ScannedCount": 3, "LastEvaluatedKey": {"pk": {"S": "p"}, "sk": {"N": "2"}}}
    response = json_response(200, {**rest, "Items": _texts(ITEMS)})
    assert json.loads(response.body) == {**rest, "Items": ITEMS}
    assert response.headers["x-amz-crc32"] == str(zlib.crc32(response.body) & 0xFFFFFFFF)


def test_encoded_items_alone_and_none_at_all() -> None:
    assert json.loads(json_response(200, {"Items": _texts(ITEMS)}).body) == {"Items": ITEMS}
    assert json.loads(json_response(200, {"Items": _texts([]), "Count": 0}).body) == {"Items": [], "Count": 0}
