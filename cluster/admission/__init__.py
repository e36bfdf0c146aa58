"""Admission control: token buckets per partition and node, per router and table, and the global
admission control (GAC) that hands routers their tables' tokens (DynamoDB 2022, §4)."""
