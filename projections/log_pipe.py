"""The log read, decoded and digested by a second process, for a long fold.

A rebuild of the timeline at 100k rules spent about a third of its time
reading and decoding the log and another tenth digesting release blobs
(``blob_sha``: canonical JSON, then SHA-256), all on one core while the other
sat idle. For a long stretch (a rebuild, a node far behind), ``decoded`` hands
that work to a child interpreter on the same store: it reads and decodes in
pages, digests each release blob the fold would digest, and sends the events
through a pipe *slimmed*: the blob replaced by its name alone (what a fold
reads of it besides the digest) and the digest attached (``PIPED_DIGEST``).
Sending whole decoded blobs was tried and measured no faster than decoding
them in the parent: unpickling big blobs costs about what decoding their JSON
does. Slimmed, a page is small, and the parent only folds and writes. Every
event is sent without its timestamp, which no fold reads (its recorded time
goes beside it, in microseconds): an aware ``datetime`` was more than half of
what pickling and unpickling an event cost (7.4 of 10.3 us a position), on
the side of the pipe that folds.

What comes out is, position by position, what reading in-process gives:
``(position, event or None, recorded time in microseconds)``, an index
aggregate's event (which the fold ignores) being None with its time alone; a
fold of the slimmed events gives the same state (``Catalog._digest`` takes the
attached digest; the timestamp is None). A page crosses the pipe flat and
marshalled (``pipe_pages``). A store only this process can reach (in memory)
is read in-process, as is a short stretch, which would not repay starting a
process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import queue
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import IO, Any

from eventsourcing.application import Application

from rulelog.projections.log import read_positions, time_of
from rulelog.projections.pipe_pages import pack, unpack
from rulelog.projections.state_events import DIGESTED, PIPED_DIGEST, blob_sha

#: Positions from which a stretch is read by a second process.
PIPED_FROM = 50_000
#: Positions per page sent (what waits in memory is a page or two and the pipe's
#: buffer, whatever the log's size).
PIPE_PAGE = 2_000
#: Pages the parent holds read ahead (about 400 KB each).
AHEAD = 16
#: Bytes the pipe itself holds, asked for where the system allows it.
PIPE_BYTES = 1 << 20
#: More bytes than any page takes: a length beyond it is not a page's.
_MOST_BYTES = 1 << 30
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CHILD = "from rulelog.projections.log_pipe import serve_pages; serve_pages()"

#: One position: (position, the decoded event or None, recorded microseconds).
Decoded = tuple[int, Any, int]


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (no float rounding)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    since = moment - _EPOCH  # integer parts: a rebuild converts every event's time
    return (since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds


def decoded(
    app: Application, start: int, stop: int, topics: Sequence[str], *, piped: bool | None = None
) -> Iterator[Decoded]:
    """Positions ``start`` to ``stop``, each event of ``topics`` decoded (see the module).

    ``piped`` forces the choice (tests); by default a child reads stretches of
    ``PIPED_FROM`` positions or more from stores it can open.
    """
    if piped is None:
        piped = stop - start + 1 >= PIPED_FROM and shareable(app)
    if piped:
        yield from _piped(app, start, stop, topics)
    else:
        yield from _read(app, start, stop, topics)


def shareable(app: Application) -> bool:
    """Whether another process can open the store: a SQL database on disk or a server."""
    engine = getattr(getattr(app.recorder, "datastore", None), "engine", None)
    if engine is None:
        return False
    url = engine.url
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        return database not in ("", ":memory:") and "mode=memory" not in str(url)
    return True


def _read(app: Application, start: int, stop: int, topics: Sequence[str]) -> Iterator[Decoded]:
    decode = app.mapper.to_domain_event
    for read in read_positions(app, start, stop, frozenset(topics)):
        if isinstance(read, tuple):
            position, state = read
            yield position, None, to_us(time_of(app, position, state))
        else:
            event = decode(read)
            yield read.id, event, to_us(event.timestamp)


def slim(event: Any) -> Any:
    """``event`` made ready for the pipe, in place (the reading process's own, just
    decoded: copying it cost more than the rest of slimming): no timestamp, and a
    release event's blob cut to its name, with the blob's digest attached."""
    if event is None:
        return None
    object.__setattr__(event, "timestamp", None)
    if type(event) in DIGESTED:
        blob = event.blob
        name = blob.get("name") if isinstance(blob, dict) else None
        object.__setattr__(event, "blob", {} if name is None else {"name": name})
        object.__setattr__(event, PIPED_DIGEST, blob_sha(blob))
    return event


def _piped(app: Application, start: int, stop: int, topics: Sequence[str]) -> Iterator[Decoded]:
    """Pages from a child interpreter (``python -c``, not ``multiprocessing``,
    whose spawned process would run the parent's main script again), read from
    its standard output by a thread of this process into a queue of ``AHEAD``
    pages, so the child works ahead while this one folds; a full queue holds it
    back. Read straight from the pipe, the two had taken turns more than they
    ran side by side; and with the pipe at its default 64 KB, the child blocked
    writing while the thread reading it waited for the GIL between chunks, so
    the pipe is widened (``_widen``)."""
    request = (type(app), dict(app.env), start, stop, tuple(topics))
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None
    _widen(child.stdout)
    pages: queue.Queue[bytes | None] = queue.Queue(AHEAD)
    reader = threading.Thread(target=_forward, args=(child.stdout, pages), daemon=True)
    try:
        child.stdin.write(pickle.dumps(request, pickle.HIGHEST_PROTOCOL))
        child.stdin.close()
        reader.start()
        while True:
            data = pages.get()
            if data is None:
                raise RuntimeError(f"the log reader stopped: {_told(child)}")
            page = unpack(data)
            if page is None:
                return
            if isinstance(page, str):
                raise RuntimeError(f"the log reader failed:\n{page}")
            yield from page
    finally:
        if child.poll() is None:
            child.kill()
        while reader.is_alive():  # it ends at the end of the pipe, once it can put
            with contextlib.suppress(queue.Empty):
                pages.get(timeout=0.1)
        child.wait()
        child.stdout.close()
        if child.stderr is not None:
            child.stderr.close()


def _widen(stream: IO[bytes]) -> None:
    """Let the pipe hold a few pages where the system allows (Linux: up to
    ``/proc/sys/fs/pipe-max-size``, 1 MB by default; elsewhere it stays as it is)."""
    with contextlib.suppress(AttributeError, OSError):
        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _forward(stream: IO[bytes], pages: queue.Queue[bytes | None]) -> None:
    """Each page's bytes (length first) from ``stream`` into ``pages``; None at
    its end, where it ends inside a page (a child that died writing), or where a
    length makes no sense (the stream is not pages), so the parent reports the
    child rather than waiting for a page that never comes."""
    try:
        while True:
            size = stream.read(8)
            wanted = int.from_bytes(size, "little") if len(size) == 8 else 0
            if not 0 < wanted <= _MOST_BYTES:
                return
            data = stream.read(wanted)
            if len(data) < wanted:
                return
            pages.put(data)
    finally:
        pages.put(None)


def _told(child: subprocess.Popen[bytes], grace: float = 5.0) -> str:
    """A stopped reader's exit code and the last line it wrote on its standard error.

    A reader whose stream stopped being pages may still be running, blocked on
    the pipe nobody reads now: it is given ``grace`` seconds, then killed.
    """
    try:
        code = child.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        child.kill()
        code = child.wait()
    said = child.stderr.read().decode(errors="replace").strip() if child.stderr else ""
    return f"exit code {code}, {said.splitlines()[-1] if said else 'nothing on stderr'}"


def serve_pages() -> None:
    """The child: the request on standard input; pages of slimmed events on standard
    output, then None, or the error's traceback.

    The pages go out on a copy of the standard output's descriptor, and the
    descriptor itself is pointed at standard error: a line anything in this
    process prints would otherwise land inside the pages and be read as a
    page's length.
    """
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    try:
        app_class, env, start, stop, topics = pickle.load(sys.stdin.buffer)
        app = app_class(env=env)
        page: list[Decoded] = []
        for position, event, moment in _read(app, start, stop, topics):
            page.append((position, slim(event), moment))
            if len(page) >= PIPE_PAGE:
                _send(out, page)
                page = []
        if page:
            _send(out, page)
        _send(out, None)
    except BaseException:
        _send(out, traceback.format_exc())
    out.flush()


def _send(out: IO[bytes], page: list[Decoded] | str | None) -> None:
    """One page (``pipe_pages.pack``), its length first (the parent's reader splits
    them unread)."""
    data = pack(page)
    out.write(len(data).to_bytes(8, "little"))
    out.write(data)
