"""TableName's member constraints, as DynamoDB words them. Its own module so that request parsers other than
cluster/api/requests.py (UpdateTable's) can use it without importing requests.py, which imports them."""

from __future__ import annotations

import re

TABLE_NAME_PATTERN = re.compile(r"[a-zA-Z0-9_.-]+")
MIN_TABLE_NAME_LENGTH = 3
MAX_TABLE_NAME_LENGTH = 255


def table_name_problems(value: str, member: str) -> list[str]:
    problems = []
    if len(value) < MIN_TABLE_NAME_LENGTH:
        problems.append(
            f"Value '{value}' at '{member}' failed to satisfy constraint: "
            f"Member must have length greater than or equal to {MIN_TABLE_NAME_LENGTH}"
        )
    if len(value) > MAX_TABLE_NAME_LENGTH:
        problems.append(
            f"Value '{value}' at '{member}' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_TABLE_NAME_LENGTH}"
        )
    if not TABLE_NAME_PATTERN.fullmatch(value):
        problems.append(
            f"Value '{value}' at '{member}' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        )
    return problems
