"""Observability of a game day: Prometheus scrape config, customer-facing alert rules and Grafana dashboards.

Everything here is generated from code (``python -m dashboards.generate``) and checked by promtool in
the tests, so a renamed metric or a changed scenario threshold cannot leave a stale alert behind.
"""
