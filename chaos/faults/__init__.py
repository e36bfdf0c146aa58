"""Fault injectors, one module per fault family, and the registry that maps a fault kind to its injector.

Importing this package stays cheap and free of I/O: the scheduler reads `kinds` from here without
pulling in anything that signals processes.
"""
