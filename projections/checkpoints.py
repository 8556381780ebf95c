"""The stored states of the timeline: full checkpoints and Fenwick-layered deltas.

A full checkpoint is the whole folded ``Catalog``; writing one costs what the
catalogue weighs (tens of megabytes for 100k rules), so they are spaced in
proportion to the catalogue: at a boundary ``p`` the next one is taken once
``p - F >= max(K, FULL_PER_ROW * rows)`` events have passed since the last, ``F``
(about one row serialised per event, at any catalogue size).
Between them, every ``D`` events (a *boundary*, at ``F + m * D``) a delta holds
the rows that changed -- their values at the boundary, or tombstones -- so the
bytes written follow what changed, not the catalogue's size.

Deltas are laid out as a Fenwick tree (a counter) over the boundary index
``m``, in base ``BASE`` = 4: with ``unit(m)`` the largest power of 4 dividing
``m`` (``lowbit``), the delta at ``m`` covers the boundaries ``(m - unit(m), m]``:
it is the union of the narrower deltas since ``m - unit(m)``, valued at ``m``.
The state at index ``n`` is then the full checkpoint, plus the deltas at
``n``, ``n - unit(n)``, ... applied oldest first (at most 3 per power of 4),
plus a fold of fewer than ``D`` events. A changed row is written once per
level above it, about ``log4(rows / D)`` times, whatever the catalogue's size
(base 2 measured about a quarter more bytes, for fewer, larger deltas per read).

Applying a delta keeps every table in the fold's order (an inserted row goes
last, as the fold put it), so a state read through deltas equals the fold from
zero in every respect, and its full checkpoint has the same bytes.

Every position here is a function of the log alone (``F`` of the state, the
boundaries of ``F``), so a rebuild writes exactly the rows that incremental
catch-ups wrote, in whatever chunks they came.
"""

from __future__ import annotations

import gc
import json
import marshal
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import zstandard

from rulelog.projections.state import Catalog
from rulelog.projections.state_events import Stream

#: First byte of a checkpoint in the current format (compressed ``marshal``); a
#: zlib stream (the earlier JSON format) starts with 0x78, so both are read.
_MARSHAL = b"M"
#: First byte of a delta (compressed ``marshal`` of its entries).
_DELTA = b"D"
#: After the kind byte: a Zstandard frame (its magic number first), or, as
#: written before, a zlib stream. Zstandard at level 1 compressed the deltas
#: and checkpoints of a 1M-event rebuild in 1.3 s of CPU to 129 MB, where zlib
#: at its fastest level took 4.6 s to 163 MB.
_ZSTD_MAGIC = zstandard.FRAME_HEADER
_ZSTD_LEVEL = 1
#: marshal format 2: every later Python reads it, and, having no references
#: between objects (formats 3 and 4 share any object referenced twice), it
#: turns equal states into equal bytes however their objects happen to be
#: shared, so a rebuild writes exactly the checkpoints the catch-ups wrote.
_MARSHAL_VERSION = 2

#: Events between deltas (D): the longest fold a read of a past state makes.
DEFAULT_DELTA_EVERY = 128
#: A full checkpoint waits for this many events per catalogue row (and at least
#: K): writing it then costs about a row per event. More would make the widest
#: deltas (which approach the whole catalogue) the larger part of a read.
FULL_PER_ROW = 1

#: The catalogue's keyed tables, and the two small ones marked (and stored) whole.
_KEYED = ("rules", "releases", "shutoffs", "pins", "scheduled", "users", "uptake", "expectations")
_WHOLE = frozenset({"policies", "test_channels"})
_STREAMS = "_streams"
#: Entry kinds: gone, (re)inserted (moves last in its table), changed in place.
_GONE, _INSERTED, _CHANGED = 0, 1, 2

#: A delta's rows: (table, key, kind, value).
Entries = list[tuple[str, Any, int, Any]]
#: (table, key) -> whether it was (re)inserted, in the order of the last insertions.
Changes = dict[tuple[str, Any], bool]


def encode_state(state: Catalog) -> bytes:
    """A full checkpoint: ``Catalog.to_data`` in ``marshal`` (several times faster than
    JSON both ways)."""
    return compress(serialize_state(state))


def serialize_state(state: Catalog) -> bytes:
    """A full checkpoint, uncompressed (kind byte first): the state moves on, and
    compressing, about half the cost, can wait for a second thread."""
    return _MARSHAL + marshal.dumps(state.to_data(), _MARSHAL_VERSION)


def compress(serialized: bytes) -> bytes:
    """The stored form of a serialised checkpoint or delta (its kind byte first)."""
    return serialized[:1] + _codecs().compressor.compress(memoryview(serialized)[1:])


def decompress(payload: bytes | memoryview) -> bytes:
    """What follows a stored checkpoint's or delta's kind byte, uncompressed."""
    if bytes(payload[:4]) == _ZSTD_MAGIC:
        return _codecs().decompressor.decompress(payload)  # type: ignore[no-any-return]
    return zlib.decompress(payload)


class _Codecs(threading.local):
    """One Zstandard compressor and decompressor per thread: neither may be used by
    two threads at once, and checkpoints are compressed in a worker thread while
    serving threads read past states."""

    def __init__(self) -> None:
        self.compressor = zstandard.ZstdCompressor(level=_ZSTD_LEVEL)
        self.decompressor = zstandard.ZstdDecompressor()


_CODECS = _Codecs()


def _codecs() -> _Codecs:
    return _CODECS


def decode_state(blob: bytes) -> Catalog:
    if blob[:1] == _MARSHAL:
        return Catalog.from_data(marshal.loads(decompress(memoryview(blob)[1:])))
    return Catalog.from_data(json.loads(zlib.decompress(blob)))


#: Whether this process keeps objects frozen for good (``freeze_loaded``). Asked
#: instead of ``gc.get_freeze_count()``, which walks every frozen object: after a
#: node froze its heap, each read of a past state paid a walk of all of it.
_keeps_frozen = False


def freeze_loaded() -> None:
    """Take what the process holds now out of the collector's sight for good.

    For a process that has loaded a state it keeps to its end (a serving node
    after its first fold): collected first, so only what is live is frozen;
    later collections traverse only what came since. From then on nothing
    here hands frozen objects back.
    """
    global _keeps_frozen
    gc.collect()
    gc.freeze()
    _keeps_frozen = True


@contextmanager
def collection_paused() -> Iterator[None]:
    """No cyclic garbage collection while a stored state is decoded.

    Decoding makes tens of thousands of dicts and none of them garbage, yet each
    few hundred allocations start a collection, and the oldest generation's
    traverse every object of the process: measured, that was the slow tail of
    a read of a past state, not the decoding itself.

    Pausing alone only moves that cost: the young generation then holds the
    whole decoded state, and the next few collections traverse it (a read at
    1M events took 16 ms, or 57 when one landed). So on leaving, what the young
    generations hold is moved to the oldest untraversed (``gc.freeze`` then
    ``gc.unfreeze``: two list splices), where only a full collection, as rare
    as ever, looks at it. A process that keeps objects frozen
    (``freeze_loaded``) is left as it is: unfreezing would hand those back.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if not _keeps_frozen:
            gc.freeze()
            gc.unfreeze()
        if was:
            gc.enable()


@contextmanager
def long_fold() -> Iterator[Callable[[], None]]:
    """Within the block, ``settled()`` takes what exists out of the collector's sight.

    A long fold (a rebuild, a big catch-up) grows a state of millions of objects
    that live to its end, and every collection of the oldest generation
    traverses all of them: at 1.2M events into a 100k-rule catalogue, 40% of a
    rebuild's CPU time. Calling ``settled()`` after each committed batch moves
    every object then alive into the permanent generation (``gc.freeze``), so
    later collections look at what the next batch leaves, and nothing else;
    refcounting still frees what the state drops. On leaving, the objects are
    handed back (``gc.unfreeze``), unless the process keeps its own frozen
    (``freeze_loaded``): they stay frozen, with the fold's beside them.

    Nor does the collector run by itself within the block: a batch allocates
    hundreds of thousands of objects (the events, unpickled or decoded), and
    its automatic collections traversed each of them several times (a third
    of unpickling a page). ``settled()`` collects the young generations once
    instead -- each object the batch left traversed once -- before freezing.
    """
    owned = not _keeps_frozen
    was = gc.isenabled()
    gc.disable()

    def settled() -> None:
        gc.collect(1)
        gc.freeze()

    try:
        yield settled
    finally:
        if was:
            gc.enable()
        if owned:
            gc.unfreeze()


def catalogue_rows(state: Catalog) -> int:
    """How big the catalogue is, for spacing full checkpoints."""
    return len(state._streams) + sum(len(getattr(state, name)) for name in _KEYED)


# ------------------------------------------------------------------ deltas


def serialize_delta(
    state: Catalog, changes: Changes, written: dict[tuple[str, Any], tuple[int, bytes]]
) -> bytes:
    """The rows named in ``changes`` as they are in ``state`` (kind byte first,
    uncompressed): ``[table, key, kind, value]`` in the order of ``changes``.

    ``written`` keeps each entry's bytes, by (table, key), until the row changes
    again (``Layout`` forgets it then): the wider deltas repeat the rows of the
    narrower ones, and a marshalled list in format 2 is its items' bytes one
    after the other, so those rows are not marshalled again.
    """
    parts = []
    for marked, inserted in changes.items():
        kept = written.get(marked)
        if kept is not None and kept[0] in (_GONE, _INSERTED if inserted else _CHANGED):
            # Unchanged since written (``Layout.take_changes`` forgets a row that
            # changes): gone it still is, and present its kind follows the flag.
            parts.append(kept[1])
            continue
        table, key = marked
        if table in _WHOLE:
            kind, value = _CHANGED, getattr(state, table)
        else:
            rows = state._streams if table == _STREAMS else getattr(state, table)
            value = rows.get(key, _MISSING)
            kind = _GONE if value is _MISSING else _INSERTED if inserted else _CHANGED
        entry: tuple[str, Any, int, Any]
        if table in _WHOLE:
            entry = (table, None, kind, value)
        elif kind == _GONE:
            entry = (table, key, kind, None)
        else:
            entry = (table, key, kind, _stream(value) if table == _STREAMS else value)
        kept = written[marked] = (kind, marshal.dumps(entry, _MARSHAL_VERSION))
        parts.append(kept[1])
    return _DELTA + b"[" + len(parts).to_bytes(4, "little", signed=True) + b"".join(parts)


def _stream(stream: Stream) -> tuple[str, Any, int]:
    return (stream.table, stream.key, stream.base)


_MISSING = object()


def decode_delta(blob: bytes) -> Entries:
    if blob[:1] != _DELTA:
        raise ValueError(f"not a timeline delta (starts with {blob[:1]!r})")
    entries: Entries = marshal.loads(decompress(memoryview(blob)[1:]))
    return entries


def apply_delta(state: Catalog, entries: Entries, position: int) -> None:
    """Move ``state`` to ``position`` by a delta whose window starts where it is.

    An inserted row is taken out and put back last, as the fold put it, so every
    table keeps the fold's order (and a checkpoint of the result has the bytes of
    one folded from zero).
    """
    for table, key, kind, value in entries:
        if table in _WHOLE:
            setattr(state, table, value)
            continue
        rows = state._streams if table == _STREAMS else getattr(state, table)
        if kind == _GONE:
            rows.pop(key, None)
            continue
        if table == _STREAMS:
            value = Stream(*value)
        if kind == _INSERTED:
            rows.pop(key, None)
        rows[key] = value
    state.position = position


def changes_of(entries: Entries) -> Changes:
    """The changes a delta was written from (a gone row's flag no longer matters:
    it is gone at the end of the window, and only an insertion brings it back)."""
    return {(table, key): kind == _INSERTED for table, key, kind, _ in entries}


def merge(into: Changes, later: Changes) -> Changes:
    """``into`` followed by ``later``: what changed over both windows, in order."""
    for key, inserted in later.items():
        if inserted:
            into.pop(key, None)
            into[key] = True
        elif key not in into:
            into[key] = False
    return into


#: The counter's base B: a delta covers B times the boundaries of the one below it.
#: Base 2 writes each changed row once per level (log2 levels), base B about
#: log_B levels, for up to B - 1 deltas per level on reading; 4 halves the bytes
#: written for a few small deltas more per read.
BASE = 4


def lowbit(m: int) -> int:
    """The largest power of ``BASE`` dividing ``m`` (> 0): the boundaries its delta covers."""
    unit = 1
    while m % (unit * BASE) == 0:
        unit *= BASE
    return unit


def chain(n: int) -> list[int]:
    """The boundary indices whose deltas make up the state at ``n``, oldest first."""
    found = []
    while n > 0:
        found.append(n)
        n -= lowbit(n)
    return found[::-1]


class Layout:
    """Decides, boundary by boundary, what a catch-up stores, and keeps the open windows.

    ``windows`` is the binary counter's stack: (first index, changes) of the
    deltas making up the state at the last boundary, oldest first; closing the
    boundary ``m`` merges those inside ``(m - lowbit(m), m]`` with the changes
    since the last boundary (O(changed rows) per level).
    """

    def __init__(self, state: Catalog, full_at: int, *, every: int, delta_every: int) -> None:
        self.state = state
        self.full_at = full_at
        self.every = every
        self.delta_every = delta_every
        self.windows: list[tuple[int, Changes]] = []
        #: the bytes of the entries written since their rows last changed
        self.written: dict[tuple[str, Any], tuple[int, bytes]] = {}
        #: the index of the last boundary closed
        self.closed = 0
        state.track_changes()

    def boundary(self, position: int) -> tuple[int, int, bytes] | None:
        """At a boundary, (position, span, serialised checkpoint or delta) to store;
        span is 0 for a full checkpoint, the events a delta covers otherwise."""
        offset = position - self.full_at
        if offset <= 0 or offset % self.delta_every:
            return None
        if offset >= max(self.every, FULL_PER_ROW * catalogue_rows(self.state)):
            self.state.take_changes()
            self.full_at, self.windows, self.closed = position, [], 0
            self.written.clear()
            return (position, 0, serialize_state(self.state))
        changes = self.close(offset // self.delta_every, self.take_changes())
        span = lowbit(offset // self.delta_every) * self.delta_every
        return (position, span, serialize_delta(self.state, changes, self.written))

    def take_changes(self) -> Changes:
        """The state's changes since the last boundary; their written bytes are stale."""
        changes = self.state.take_changes()
        for marked in changes:
            self.written.pop(marked, None)
        return changes

    def skip_to(self, position: int) -> None:
        """Close every boundary up to ``position`` without storing anything: the
        state is there (a catch-up resuming where deltas are missing)."""
        while self.full_at + (self.closed + 1) * self.delta_every <= position:
            self.close(self.closed + 1, self.take_changes())

    def close(self, m: int, changes: Changes) -> Changes:
        """The changes of the window ``(m - lowbit(m), m]``; pushes it on the stack."""
        start = m - lowbit(m)
        self.closed = m
        inside = []
        while self.windows and self.windows[-1][0] >= start:
            inside.append(self.windows.pop()[1])
        merged: Changes = inside.pop() if inside else {}
        for window in reversed(inside):
            merge(merged, window)
        merge(merged, changes)
        self.windows.append((start, merged))
        return merged
