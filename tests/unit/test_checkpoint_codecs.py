"""The stored form of the timeline's checkpoints and deltas: written with
Zstandard, and those written before with zlib still read, so a store indexed
by an earlier release needs no rebuild."""

from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor

import zstandard

from rulelog.projections import checkpoints
from rulelog.projections.state import Catalog
from rulelog.projections.state_events import Stream


def small_catalogue() -> Catalog:
    state = Catalog(position=7)
    for rule_id in range(1, 40):
        state.rules[rule_id] = {"rule_id": rule_id, "priority": rule_id * 10, "data_version": 1}
        state._streams[rule_id] = Stream("rules", rule_id, 0)
    state.releases["Firefox-1"] = {"name": "Firefox-1", "blob_sha": "ab" * 32}
    return state


def test_a_checkpoint_is_written_with_zstandard_and_reads_back_equal() -> None:
    state = small_catalogue()
    stored = checkpoints.encode_state(state)
    assert stored[:1] == b"M" and stored[1:5] == zstandard.FRAME_HEADER
    assert checkpoints.decode_state(stored).to_data() == state.to_data()


def test_a_checkpoint_written_with_zlib_still_reads() -> None:
    state = small_catalogue()
    serialized = checkpoints.serialize_state(state)
    earlier = serialized[:1] + zlib.compress(serialized[1:], 1)
    assert checkpoints.decode_state(earlier).to_data() == state.to_data()


def test_a_delta_reads_back_in_either_form() -> None:
    state = small_catalogue()
    changes = {("rules", 3): False, ("releases", "Firefox-1"): True, ("rules", 99): False}
    serialized = checkpoints.serialize_delta(state, changes, {})
    entries = checkpoints.decode_delta(checkpoints.compress(serialized))
    assert [(t, k, kind) for t, k, kind, _ in entries] == [
        ("rules", 3, 2),
        ("releases", "Firefox-1", 1),
        ("rules", 99, 0),  # gone
    ]
    earlier = serialized[:1] + zlib.compress(serialized[1:], 1)
    assert checkpoints.decode_delta(earlier) == entries


def test_threads_compressing_at_once_write_what_one_thread_writes() -> None:
    """Each thread has its own compressor (one may not be shared), and the bytes
    are a function of the input: a rebuild writes what the catch-ups wrote."""
    serialized = [checkpoints.serialize_state(small_catalogue()) + bytes(n) for n in range(64)]
    alone = [checkpoints.compress(s) for s in serialized]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(checkpoints.compress, serialized))
    assert together == alone
    assert [checkpoints.decompress(c[1:]) for c in together] == [s[1:] for s in serialized]
