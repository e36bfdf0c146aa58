"""Scrub: replicas of a group must hold the same data, equal to a replay of the archived WAL.

Pure parts (digests, comparison, repair plans, commands) are separate from the node-side coordinator
that proposes markers, asks peers over RPC and records findings.
"""
