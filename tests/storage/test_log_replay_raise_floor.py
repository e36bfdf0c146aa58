"""A replay that forgets what its reader applied (`raise_floor`) goes on exactly as one that kept it."""

from __future__ import annotations

import random

import pytest

from cluster.core.types import Entry, HardState
from cluster.storage.wal_recovery import LogReplay, SealedSegmentReplay, record_source


def _batch(first: int, count: int, term: int) -> list[Entry]:
    return [Entry(term, index, f"{term}:{index}".encode()) for index in range(first, first + count)]


def _random_log(rng: random.Random) -> list[tuple[list[Entry], int]]:
    """Batches as a WAL records them, each with the commit index after it: appends, and now and then a new
    leader's rewrite of the uncommitted tail (re-sending committed entries too, now and then)."""
    batches: list[tuple[list[Entry], int]] = []
    last, term, commit = 0, 1, 0
    for _ in range(40):
        if last > commit and rng.random() < 0.3:
            term += 1
            first = rng.randint(max(1, commit - 2), last)
            terms = {entry.index: entry.term for batch, _ in batches for entry in batch}  # what the log holds
            resent = [Entry(terms[index], index, f"{terms[index]}:{index}".encode()) for index in range(first, commit + 1)]
            fresh = _batch(max(first, commit + 1), rng.randint(1, 4), term)
            batch = resent + fresh
        else:
            batch = _batch(last + 1, rng.randint(1, 4), term)
        last = batch[-1].index
        commit = rng.randint(commit, last)
        batches.append((batch, commit))
    return batches


def test_a_raised_floor_keeps_every_entry_after_it_and_forgets_the_rest() -> None:
    replay = LogReplay()
    replay.apply_entries(_batch(1, 10, 1))
    replay.raise_floor(6)
    assert [entry.index for entry in replay.entries] == [7, 8, 9, 10]
    assert replay.rules.floor == (6, 1)
    assert replay.rules.held_terms == 4
    replay.raise_floor(3)  # below the floor: nothing to forget
    assert replay.rules.floor == (6, 1)
    # A record rewriting from below the floor (a leader re-sending entries) truncates what follows it.
    replay.apply_entries(_batch(5, 3, 1))
    assert [entry.index for entry in replay.entries] == [7]
    with pytest.raises(ValueError, match="term decreases"):
        replay.apply_entries([Entry(0, 8, b"")])


@pytest.mark.parametrize("seed", range(30))
def test_raising_the_floor_anywhere_changes_nothing_after_it(seed: int) -> None:
    rng = random.Random(seed)
    batches = _random_log(rng)
    whole, forgetful = LogReplay(), LogReplay()
    for batch, commit in batches:
        for replay in (whole, forgetful):
            replay.apply_entries(batch)
            replay.apply_hard_state(HardState(batch[-1].term, None, commit))
        if rng.random() < 0.4:  # a reader applied the committed entries up to somewhere
            forgetful.raise_floor(rng.randint(forgetful.rules.floor_index, commit))
    floor = forgetful.rules.floor_index
    assert floor > 0
    assert forgetful.entries == [entry for entry in whole.entries if entry.index > floor]
    assert forgetful.rules.last_index == whole.rules.last_index


@pytest.mark.parametrize("seed", range(40))
def test_a_replay_resumed_from_the_floors_record_holds_what_the_whole_replay_holds(seed: int) -> None:
    """What a reader that stopped at a floor needs after a restart: the records from `floor_source` on,
    replayed with that floor, hold exactly the entries after it that the whole replay holds (records
    numbered by their place in three-record segments, as offsets in a segment file would)."""
    rng = random.Random(seed)
    batches = _random_log(rng)
    places = [(1 + number // 3, number % 3) for number in range(len(batches))]
    whole = SealedSegmentReplay()
    stop = rng.randrange(len(batches) // 3, len(batches))
    for number, ((batch, commit), place) in enumerate(zip(batches, places, strict=True)):
        whole._replay.source = record_source(*place)
        whole._replay.apply_entries(batch)
        whole._replay.apply_hard_state(HardState(batch[-1].term, None, commit))
        if rng.random() < 0.5:
            whole.raise_floor(rng.randint(whole.floor_index, commit))
        if number == stop:
            break
    floor, source = whole.rules.floor, whole.floor_source
    assert floor[0] > 0
    resumed = SealedSegmentReplay(floor, source)
    for (batch, commit), place in zip(batches, places, strict=True):
        if record_source(*place) < source:
            continue  # before the record that wrote the floor's entry: never read again
        resumed._replay.source = record_source(*place)
        resumed._replay.apply_entries(batch)
        resumed._replay.apply_hard_state(HardState(batch[-1].term, None, commit))
    everything = LogReplay()
    for batch, commit in batches:
        everything.apply_entries(batch)
        everything.apply_hard_state(HardState(batch[-1].term, None, commit))
    assert resumed.entries == [entry for entry in everything.entries if entry.index > floor[0]]
