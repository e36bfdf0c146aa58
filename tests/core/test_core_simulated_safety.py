"""Many seeded random runs with drops, delays, duplicates, reorders, partitions, crashes and transfers.

The SafetyMonitor checks election safety, log matching, leader completeness, state machine safety,
durability of committed entries and lease safety after every step; each run ends by healing and
requiring convergence within a bound (liveness). A failure names its seed: replay it with run_chaos(seed).
"""

import pytest

from cluster.core.config import RaftConfig
from cluster.core.simulation import NetworkFaults
from cluster.core.simulation_chaos import ChaosSettings, run_chaos

PROFILES = {
    "three_nodes": ChaosSettings(node_count=3, steps=1500),
    "five_nodes": ChaosSettings(node_count=5, steps=1500),
    # Faster churn, a lossier network, the longest lease the config allows and no pre-vote.
    "harsh": ChaosSettings(
        node_count=5,
        steps=1500,
        crash_probability=0.02,
        partition_probability=0.04,
        heal_probability=0.05,
        transfer_probability=0.01,
        faults=NetworkFaults(drop_probability=0.15, duplicate_probability=0.1, delay_steps_min=1, delay_steps_max=6),
        config=RaftConfig(lease_ticks=9, pre_vote=False, max_entries_per_append=4, max_inflight_appends=3),
        convergence_bound_steps=800,
    ),
}
DEFAULT_SEEDS = {"three_nodes": range(60), "five_nodes": range(30), "harsh": range(30)}


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_random_fault_schedules_keep_raft_safe_and_live(profile: str) -> None:
    settings = PROFILES[profile]
    totals = {"terms": 0, "crashes": 0, "lease_reads_checked": 0, "committed_entries": 0}
    for seed in DEFAULT_SEEDS[profile]:
        report = run_chaos(seed, settings)
        for key in totals:
            totals[key] += getattr(report, key)
    # The runs really exercised what they claim to check.
    assert totals["terms"] > 3 * len(DEFAULT_SEEDS[profile])
    assert totals["crashes"] > len(DEFAULT_SEEDS[profile])
    assert totals["lease_reads_checked"] > 1000
    assert totals["committed_entries"] > 100 * len(DEFAULT_SEEDS[profile])


@pytest.mark.soak
@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_soak_random_fault_schedules(profile: str) -> None:
    for seed in range(1000, 1600):
        run_chaos(seed, PROFILES[profile])
