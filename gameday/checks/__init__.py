"""The game day's checks: one module per verifier, each behind the `Check` shape (gameday/checks/base.py),
listed in gameday/checks/registry.py."""
