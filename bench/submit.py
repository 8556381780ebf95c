"""Locale submissions/s to one release: admin API v1 against v2, same run.

    .venv/bin/python bench/submit.py [--submissions 1000] [--writers 16]
                                     [--store sqlite|postgres] [--workers 1]

For each store (SQLite, and PostgreSQL when reachable): a fresh store and
``rulelog serve admin``. Two releases of the same shape are made, then
``--submissions`` locale builds (10 platforms x N locales) are submitted to
each by ``--writers`` threads with a keep-alive connection each:

* v1, as balrogclient does it: ``PUT /api/releases/{name}/builds/{p}/{l}``
  with the release's one ``data_version`` (the last one the writer saw); a
  400 refusal is a conflict: the writer reads the release's data_version
  again and retries.
* v2: ``POST /api/v2/releases/{name}`` with only its part; a part's
  data_version is its own, so writers of different locales do not refuse
  each other (a 400 would be counted, and retried, the same way).

Printed: submissions/s and conflicts of each, and v2/v1. Afterwards each
release must hold every locale submitted (none lost). Nothing here is a
test: no timing is asserted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import queue
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.serve import create_token, run_cli, server
from bench.stores import fresh_store, reachable, run_all

ADMIN = "bench-admin"
PLATFORMS = [f"Platform{i}_x86_64" for i in range(10)]


def build(n: int) -> dict[str, Any]:
    return {"buildID": f"2026{n:010d}", "complete": {"filesize": n, "from": "*", "hashValue": "a"}}


class Client:
    """One writer's keep-alive connection to the admin server."""

    def __init__(self, base: str, token: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=120)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any, Any]:
        data = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, path, body=data, headers=self.headers)
        answer = self.conn.getresponse()
        raw = answer.read()
        return answer.status, (json.loads(raw) if raw else None), answer.headers


def drained(jobs: queue.Queue) -> Iterator[tuple[str, str, int]]:
    """The jobs left, one at a time: the writers share one queue."""
    while True:
        try:
            yield jobs.get_nowait()
        except queue.Empty:
            return


def landed(
    flow: str, status: int, answer: Any, tally: dict[str, int], ok: tuple[int, ...] = (200,)
) -> bool:
    """Whether a submission landed; a 400 is a conflict, counted and retried by the caller;
    any other answer stops the run."""
    if status in ok:
        tally["ok"] += 1
        return True
    if status != 400:
        raise SystemExit(f"{flow} submission answered {status}: {answer}")
    tally["conflicts"] += 1
    return False


def v1_submit(client: Client, name: str, jobs: queue.Queue, tally: dict[str, int]) -> None:
    status, _, headers = client.call("GET", f"/api/releases/{name}")
    version = int(headers["X-Data-Version"])
    for platform, locale, n in drained(jobs):
        body = {
            "product": "Firefox",
            "data": json.dumps(build(n)),
            "schema_version": 1,
            "hashFunction": "sha512",
        }
        while True:
            body["data_version"] = version
            path = f"/api/releases/{name}/builds/{platform}/{locale}"
            status, answer, _ = client.call("PUT", path, body)
            if landed("v1", status, answer, tally, ok=(200, 201)):
                version = answer["new_data_version"]
                break
            _, _, headers = client.call("GET", f"/api/releases/{name}")
            version = int(headers["X-Data-Version"])


def v2_submit(client: Client, name: str, jobs: queue.Queue, tally: dict[str, int]) -> None:
    for platform, locale, n in drained(jobs):
        body = {
            "blob": {"platforms": {platform: {"locales": {locale: build(n)}}}},
            "old_data_versions": {},
        }
        while True:
            status, answer, _ = client.call("POST", f"/api/v2/releases/{name}", body)
            if landed("v2", status, answer, tally):
                break
            _, current, _ = client.call("GET", f"/api/v2/releases/{name}/data_versions")
            body["old_data_versions"] = current["data_versions"]


def run_flow(
    submit: Any, base: str, token: str, name: str, total: int, writers: int
) -> dict[str, Any]:
    jobs: queue.Queue = queue.Queue()
    per_platform = -(-total // len(PLATFORMS))
    for n in range(total):
        jobs.put((PLATFORMS[n % len(PLATFORMS)], f"loc{n // len(PLATFORMS):03d}", n))
    assert per_platform * len(PLATFORMS) >= total
    tallies = [{"ok": 0, "conflicts": 0} for _ in range(writers)]
    clients = [Client(base, token) for _ in range(writers)]
    threads = [
        threading.Thread(target=submit, args=(c, name, jobs, t))
        for c, t in zip(clients, tallies, strict=True)
    ]
    elapsed = run_all(threads)
    ok = sum(t["ok"] for t in tallies)
    return {
        "ok": ok,
        "conflicts": sum(t["conflicts"] for t in tallies),
        "per_s": ok / elapsed,
        "seconds": elapsed,
    }


def locales_held(base: str, token: str, name: str) -> int:
    status, blob, _ = Client(base, token).call("GET", f"/api/releases/{name}")
    assert status == 200, blob
    return sum(len(p.get("locales") or {}) for p in blob["platforms"].values())


def bench_store(kind: str, args: argparse.Namespace) -> None:
    with fresh_store(kind) as url, tempfile.TemporaryDirectory() as tmp:
        run_cli(url, "users", "add", ADMIN, "--admin")
        token = create_token(url, ADMIN)
        with server(url, args.workers, str(Path(tmp) / "admin.log"), app="admin") as base:
            results = {}
            for flow, submit in (("v2", v2_submit), ("v1", v1_submit)):
                name = f"Firefox-nightly-{flow}"
                blob = {
                    "name": name,
                    "schema_version": 1,
                    "hashFunction": "sha512",
                    "platforms": {p: {"locales": {}} for p in PLATFORMS},
                }
                status, answer, _ = Client(base, token).call(
                    "PUT", f"/api/v2/releases/{name}", {"product": "Firefox", "blob": blob}
                )
                assert status == 200, answer
                r = run_flow(submit, base, token, name, args.submissions, args.writers)
                r["held"] = locales_held(base, token, name)
                results[flow] = r
                lost = args.submissions - r["held"]
                print(
                    f"{kind:9} {flow}: {r['per_s']:7.1f} submissions/s "
                    f"({r['ok']} in {r['seconds']:.1f} s, {args.writers} writers), "
                    f"conflicts {r['conflicts']}, locales {r['held']} "
                    f"({'all kept' if lost == 0 else f'LOST {lost}'})",
                    flush=True,
                )
        print(f"{kind:9} v2 / v1: {results['v2']['per_s'] / results['v1']['per_s']:.1f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--store", choices=["sqlite", "postgres"], action="append")
    parser.add_argument("--workers", type=int, default=1, help="admin server worker processes")
    args = parser.parse_args()
    for kind in reachable(args.store):
        bench_store(kind, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
