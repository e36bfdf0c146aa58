"""Raft consensus as a pure state machine: one Replica per replication group, no I/O, no clock.

replica.Replica (inputs: tick/step/propose; outputs: Ready), messages (and their wire form),
config.RaftConfig, raft_log (the in-memory log), follower_progress (leader's view of a follower),
ready.Ready, and a seeded in-memory simulation (simulation, simulation_invariants, simulation_chaos)
that the tests drive to check Raft's safety properties under faults.
"""
