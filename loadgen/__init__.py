"""Load generation: Locust users issuing DynamoDB operations, each recorded in the history (DESIGN §4).

Modules: `outcomes` (pure ok/fail/info classification), `register_workload` / `set_workload`
(what to do next), `dynamodb_operations` (the client role: requests), `recording` (invoke +
completion), `locustfile` (Locust glue), `run` (subprocess orchestration), `history_merge`.
"""
