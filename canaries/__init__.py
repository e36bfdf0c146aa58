"""Per-AZ canaries: probes of every public endpoint, Prometheus metrics, customer-facing alarms.

Modules, each with one job:

- ``outcomes``: pure classification of a probe step (exception → error class, read → ok/stale/mismatch).
- ``probe``: one probe of one endpoint (write, consistent read, eventual read), one record per step.
- ``canary``: one canary per AZ, one thread per endpoint so a dead endpoint never delays the others.
- ``records_file``: the ``canaries.jsonl`` writer; ``metrics``: the Prometheus registry of a canary.
- ``run``: the process entry point (``python -m canaries.run``); ``fleet``: one such process per AZ.
- ``alarms``: pure customer-facing alarm evaluation over recorded probe steps.
- ``cross_read``: what a canary wrote through its own AZ's endpoint, read consistently through each other one.
- ``data_alarms``: pure; every consistent read that missed an acknowledged write, with its evidence.

This package imports nothing heavy on purpose: ``canaries.alarms`` must stay importable by
the verifiers without boto3 or prometheus-client.
"""
