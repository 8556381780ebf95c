"""``bench/scale.py``'s probes and database proxy, each in a process of its own.

Why apart from the benchmark's own process: the proxy stands for the network
between the nodes and PostgreSQL, and the probes for the clients that see a
change served. In one interpreter they shared a GIL: the probes' threads
(six of them, parsing an answer every few milliseconds) delayed the proxy's
forwarding of every node's NOTIFY and log reads at once, and a probe waiting
for the GIL stamped an answer later than it came. Both showed up as commit ->
served delays on all the nodes in the same moment. In processes of their own
they are scheduled like the other programs on the machine, as a network and
separate clients would be.

Both children are started with ``spawn`` and driven over a pipe.

Each process the benchmark starts (nodes, wrk, the admin clients, the probes,
the proxy) runs in a session of its own (``own_session``). Linux's autogroup
scheduler (``/proc/sys/kernel/sched_autogroup_enabled``, on by default here)
gives every session one share of the CPU; each PostgreSQL backend calls
``setsid`` and so is a session, while the benchmark's processes were all one.
Under writes, a dozen busy backends each got as much CPU as the three nodes,
wrk, the admin clients and the probes together: a node's follower, its answer
already on the socket, waited seconds for its turn (reads of 0 rows took
2-7 s in the node, with the server idle), the admin clients' commits took
1-3 s. Sessions of their own give each program the share it would have as a
service of its own, as on separate machines or under systemd.
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tests.tcp_proxy import TcpProxy

#: An update URL every node answers from its cache: the cheapest way to read its position.
PROBE = "/update/3/Firefox/1.0/1/WINNT_x86-msvc/en-US/probe/x/default/default/update.xml"


def own_session() -> None:
    """Make this process a session of its own: a scheduling group of its own under
    autogroup (see the module), as each PostgreSQL backend is."""
    if os.getsid(0) != os.getpid():
        os.setsid()


def autogroup() -> str:
    """Whether the kernel groups processes by session when scheduling, as printed."""
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled") as setting:
            return "on" if setting.read().strip() == "1" else "off"
    except OSError:
        return "not there"


@dataclass
class Probe:
    """What one node served when: its log position as fast as it answers, and its heartbeat."""

    base: str
    seen: list[tuple[float, int]] = field(default_factory=list)
    errors: int = 0
    beats: list[tuple[float, int, str]] = field(default_factory=list)

    def served_at(self, position: int, after: float) -> float | None:
        """When this node first served ``position`` (or later), at or after ``after``."""
        return next((t for t, p in self.seen if t >= after and p >= position), None)


class Probes:
    """A probe per node, all in one child process; ``read`` copies what they have seen."""

    def __init__(self, bases: list[str]) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_probing, args=(bases, child), daemon=True)
        self._process.start()
        assert self._conn.recv() == "probing"

    def read(self) -> list[Probe]:
        self._conn.send("read")
        probes: list[Probe] = self._conn.recv()
        return probes

    def stop(self) -> None:
        self._conn.send("stop")
        self._process.join(10)


class ProxyProcess:
    """``tests/tcp_proxy.TcpProxy`` run in a child process: ``port``, ``cut``, ``restore``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_proxying, args=(target_host, target_port, child), daemon=True
        )
        self._process.start()
        self.port: int = self._conn.recv()

    def cut(self) -> None:
        self._command("cut")

    def restore(self) -> None:
        self._command("restore")

    def close(self) -> None:
        self._command("close")
        self._process.join(10)

    def __enter__(self) -> ProxyProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _command(self, name: str) -> None:
        self._conn.send(name)
        assert self._conn.recv() == name  # done when the call returns, as in-process


def _proxying(host: str, port: int, conn: Any) -> None:
    own_session()
    with TcpProxy(host, port) as proxy:
        conn.send(proxy.port)
        while (command := conn.recv()) != "close":
            if command == "cut":
                proxy.cut()
            else:
                proxy.restore()
            conn.send(command)
    conn.send("close")


def _probing(bases: list[str], conn: Any) -> None:
    own_session()
    probes = [Probe(base) for base in bases]
    stop = threading.Event()
    lock = threading.Lock()  # a read copies lists the threads append to
    for probe in probes:
        threading.Thread(target=_positions, args=(probe, stop, lock), daemon=True).start()
        threading.Thread(target=_heartbeats, args=(probe, stop, lock), daemon=True).start()
    conn.send("probing")
    while conn.recv() == "read":
        with lock:
            conn.send([Probe(p.base, list(p.seen), p.errors, list(p.beats)) for p in probes])
    stop.set()


def _get(conn: http.client.HTTPConnection, target: str) -> tuple[int, Any, bytes]:
    conn.request("GET", target)
    answer = conn.getresponse()
    return answer.status, answer.headers, answer.read()


def _positions(probe: Probe, stop: threading.Event, lock: threading.Lock) -> None:
    host = urlsplit(probe.base).netloc
    conn = http.client.HTTPConnection(host, timeout=5)
    while not stop.is_set():
        try:
            status, headers, _ = _get(conn, PROBE)
            seen = (time.monotonic(), int(headers["X-Rulelog-Position"]))
            with lock:
                probe.errors += status != 200
                probe.seen.append(seen)
        except (OSError, http.client.HTTPException, KeyError, ValueError):
            with lock:
                probe.errors += 1
            conn.close()
            conn = http.client.HTTPConnection(host, timeout=5)
        stop.wait(0.005)


def _heartbeats(probe: Probe, stop: threading.Event, lock: threading.Lock) -> None:
    host = urlsplit(probe.base).netloc
    while not stop.is_set():
        conn = http.client.HTTPConnection(host, timeout=5)
        try:
            status, _, body = _get(conn, "/__heartbeat__")
            beat = (time.monotonic(), status, body.decode()[:200])
        except (OSError, http.client.HTTPException):
            beat = (time.monotonic(), 0, "no answer")
        finally:
            conn.close()
        with lock:
            probe.beats.append(beat)
        stop.wait(0.25)
