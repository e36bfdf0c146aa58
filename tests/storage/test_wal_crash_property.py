"""Property: any crash point (a cut of the byte stream) recovers exactly the appends before it.

Each append call here writes exactly one record, so the byte offsets after each call are the only
places a clean recovery may land; a cut anywhere else must be reported as a truncated tail.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.core.types import Entry, HardState
from cluster.storage.wal import WriteAheadLog


class LogModel:
    """What Raft should see after each append: a plain list with Raft's truncation."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.hard_state: HardState | None = None
        self.term = 1

    @property
    def commit(self) -> int:
        return self.hard_state.commit if self.hard_state is not None else 0


def cut_log_at(directory: Path, cut_offset: int) -> None:
    """Simulate a crash: keep `cut_offset` bytes of the concatenated segments, drop the rest."""
    segment_start = 0
    for path in sorted(directory.glob("*.wal")):
        size_bytes = path.stat().st_size
        if segment_start > cut_offset:
            path.unlink()
        elif cut_offset <= segment_start + size_bytes:
            with path.open("r+b") as file:
                file.truncate(cut_offset - segment_start)
        segment_start += size_bytes


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), segment_max_bytes=st.integers(min_value=32, max_value=2048))
def test_a_cut_at_any_offset_recovers_the_appends_before_it(
    data: st.DataObject, segment_max_bytes: int
) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary) / "wal"
        wal, _ = WriteAheadLog.open(directory, segment_max_bytes=segment_max_bytes)
        model = LogModel()
        states: list[tuple[list[Entry], HardState | None]] = [([], None)]
        boundaries = [0]
        for _ in range(data.draw(st.integers(min_value=1, max_value=25), label="appends")):
            model.term += data.draw(st.integers(min_value=0, max_value=1), label="term bump")
            if data.draw(st.booleans(), label="entries, not hard state"):
                last_index = len(model.entries)
                first_index = data.draw(st.integers(min_value=model.commit + 1, max_value=last_index + 1))
                commands = data.draw(st.lists(st.binary(max_size=40), min_size=1, max_size=6))
                batch = [Entry(model.term, first_index + i, command) for i, command in enumerate(commands)]
                wal.append(batch, None)
                model.entries = model.entries[: first_index - 1] + batch
            else:
                commit = data.draw(st.integers(min_value=model.commit, max_value=len(model.entries)))
                vote = data.draw(st.none() | st.sampled_from(["a", "b", "node-c"]))
                model.hard_state = HardState(model.term, vote, commit)
                wal.append([], model.hard_state)
            states.append((list(model.entries), model.hard_state))
            boundaries.append(wal.size_bytes())
        wal.sync()
        wal.close()

        cut_offset = data.draw(st.integers(min_value=0, max_value=boundaries[-1]), label="cut offset")
        cut_log_at(directory, cut_offset)
        survivor = max(i for i, boundary in enumerate(boundaries) if boundary <= cut_offset)
        expected_entries, expected_hard_state = states[survivor]

        wal, recovered = WriteAheadLog.open(directory, segment_max_bytes=segment_max_bytes)
        assert recovered.entries == expected_entries
        assert recovered.hard_state == expected_hard_state
        assert recovered.truncated_tail_bytes == cut_offset - boundaries[survivor]
        assert (recovered.truncated_tail_path is None) == (cut_offset == boundaries[survivor])
        assert wal.last_index == len(expected_entries)

        # The repaired log takes appends again and reopens clean.
        next_entry = Entry(model.term, len(expected_entries) + 1, b"after the crash")
        wal.append([next_entry], None)
        wal.sync()
        wal.close()
        wal, recovered = WriteAheadLog.open(directory, segment_max_bytes=segment_max_bytes)
        wal.close()
        assert recovered.truncated_tail_bytes == 0
        assert recovered.entries == [*expected_entries, next_entry]
        assert recovered.hard_state == expected_hard_state
