"""Rule updates/s through the admin HTTP API next to the application service, same run.

    .venv/bin/python bench/admin.py [--duration 10] [--clients 4] [--workers 1]
                                    [--store sqlite|postgres]

For each store (SQLite, and PostgreSQL when reachable): a fresh store holding
the fixture, imported with the real CLI, and ``rulelog serve admin`` (``--workers``
processes). wrk
drives ``PUT /api/rules/{id}`` from ``--clients`` threads with one connection
each; every client owns one rule and sends the ``data_version`` the previous
answer gave it, as release automation does. Then the same number of updates
goes through ``RulelogApp.update_rule`` directly, from the same number of
threads (one rule each), and from one thread. Printed: updates/s of each and
the ratio HTTP / direct (against the faster direct figure). Afterwards the log
is counted: every acknowledged update must be in the log (none lost), and the
rule-update events must equal the data_versions advanced (none duplicated),
i.e. each client's acknowledged count (plus the at most one request per
client wrk leaves in flight when it stops). Needs ``wrk`` (``apt-get install -y
wrk``). Nothing here is a test: no timing is asserted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.serve import DATA, create_token, run_cli, server
from bench.stores import fresh_store, reachable, run_all
from rulelog.api.config import open_app
from rulelog.domain.catalog.rules import Rule
from rulelog.projections.log import read_log

ADMIN = "bench-admin"

LUA = """
local rules = {%(rules)s}
local versions = {%(versions)s}
local token = "%(token)s"
local threads = {}
local made = 0
function setup(thread)
  made = made + 1
  thread:set("rule", rules[made])
  thread:set("dv", versions[made])
  thread:set("ok", 0)
  thread:set("bad", 0)
  table.insert(threads, thread)
end
local headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
function request()
  local body = string.format('{"comment": "bench %%d", "data_version": %%d}', dv, dv)
  return wrk.format("PUT", "/api/rules/" .. rule, headers, body)
end
function response(status, hdrs, body)
  local next_dv = status == 200 and string.match(body, '"new_data_version":%%s*(%%d+)')
  if next_dv then
    ok = ok + 1
    dv = tonumber(next_dv)
  else
    bad = bad + 1
  end
end
function done(summary, latency, requests)
  local per = {}
  for _, t in ipairs(threads) do
    table.insert(per, string.format("[%%d, %%d, %%d]", t:get("rule"), t:get("ok"), t:get("bad")))
  end
  io.write(string.format(
    "RESULT {\\"duration_us\\": %%d, \\"p50_us\\": %%d, \\"p99_us\\": %%d, " ..
    "\\"errors\\": %%d, \\"clients\\": [%%s]}\\n",
    summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    table.concat(per, ", ")))
end
"""


def rule_versions(base: str, rule_ids: list[int]) -> list[int]:
    versions = []
    for rule_id in rule_ids:
        with urllib.request.urlopen(f"{base}/api/rules/{rule_id}", timeout=10) as answer:
            versions.append(json.load(answer)["data_version"])
    return versions


def warm_up(base: str, token: str, rule_ids: list[int], rounds: int = 20) -> None:
    """A few updates per rule, one at a time, so nothing is in flight afterwards."""
    for rule_id, version in zip(rule_ids, rule_versions(base, rule_ids), strict=True):
        for i in range(rounds):
            body = json.dumps({"comment": f"warm-up {i}", "data_version": version}).encode()
            request = urllib.request.Request(
                f"{base}/api/rules/{rule_id}",
                data=body,
                method="PUT",
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=30) as answer:
                version = json.load(answer)["new_data_version"]


def stored_versions(url: str, rule_ids: list[int]) -> list[int]:
    app = open_app(url)
    try:
        return [app.get_rule(rule_id).data_version for rule_id in rule_ids]
    finally:
        app.close()


def count_rule_updates(url: str) -> int:
    app = open_app(url)
    try:
        return sum(1 for _ in read_log(app, topics=[Rule.Updated.TOPIC]))
    finally:
        app.close()


def http_updates(base: str, token: str, rule_ids: list[int], seconds: int) -> dict[str, Any]:
    versions = rule_versions(base, rule_ids)
    lua = LUA % {
        "rules": ", ".join(map(str, rule_ids)),
        "versions": ", ".join(map(str, versions)),
        "token": token,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    n = str(len(rule_ids))
    out = subprocess.run(
        ["wrk", "-t", n, "-c", n, "-d", f"{seconds}s", "--latency", "-s", script.name, base],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 120,
    ).stdout
    Path(script.name).unlink()
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    result["ok"] = sum(c[1] for c in result["clients"])
    result["bad"] = sum(c[2] for c in result["clients"])
    result["start_versions"] = dict(zip(rule_ids, versions, strict=True))
    result["per_s"] = result["ok"] / (result["duration_us"] / 1e6)
    return result


def direct_updates(url: str, rule_ids: list[int], total: int, threads: int) -> float:
    """Updates/s through ``update_rule``: ``total`` updates spread over ``threads`` threads."""
    app = open_app(url)
    shares = [total // threads + (1 if i < total % threads else 0) for i in range(threads)]
    failures: list[BaseException] = []

    def work(rule_id: int, count: int) -> None:
        try:
            version = app.get_rule(rule_id).data_version
            for i in range(count):
                rule = app.update_rule(rule_id, version, {"comment": f"direct {i}"}, ADMIN)
                version = rule.data_version
        except BaseException as error:  # reported after the run
            failures.append(error)

    workers = [threading.Thread(target=work, args=(rule_ids[i], shares[i])) for i in range(threads)]
    elapsed = run_all(workers)
    app.close()
    if failures:
        raise SystemExit(f"direct updates failed: {failures[0]!r}")
    return total / elapsed


def bench_store(kind: str, args: argparse.Namespace) -> None:
    with fresh_store(kind) as url, tempfile.TemporaryDirectory() as tmp:
        run_cli(url, "users", "add", ADMIN, "--admin")
        run_cli(url, "import", str(DATA / "fixture.json"), "--as", ADMIN)
        env_token = create_token(url, ADMIN)
        snapshot = json.loads((DATA / "fixture.json").read_text())
        rule_ids = sorted(r["rule_id"] for r in snapshot["rules"])[: args.clients]
        before = count_rule_updates(url)
        with server(url, args.workers, str(Path(tmp) / "admin.log"), app="admin") as base:
            warm_up(base, env_token, rule_ids)
            warm = count_rule_updates(url)
            result = http_updates(base, env_token, rule_ids, args.duration)
        # Read after the server stopped: a request in flight when wrk quit is then
        # either committed or not, and both counts below see the same store.
        final = stored_versions(url, rule_ids)
        logged = count_rule_updates(url) - warm
        starts = result["start_versions"]
        advanced = sum(f - starts[r] for r, f in zip(rule_ids, final, strict=True))
        total = result["ok"]
        threaded = direct_updates(url, rule_ids, total, len(rule_ids))
        single = direct_updates(url, rule_ids, total, 1)
        direct = max(threaded, single)
        print(
            f"{kind:9} HTTP {result['per_s']:8.0f}/s (p50 {result['p50_us'] / 1000:.1f} ms, "
            f"p99 {result['p99_us'] / 1000:.1f} ms) | direct {threaded:8.0f}/s "
            f"({len(rule_ids)} threads), {single:8.0f}/s (1 thread) | "
            f"ratio {result['per_s'] / direct:5.2f}"
        )
        # wrk stops with at most one request per client in flight: the server may have
        # committed it without wrk reading the answer. Every acknowledged update must be
        # logged, every logged one must have advanced a data_version, nothing else.
        in_flight = logged - total
        sound = logged == advanced and 0 <= in_flight <= len(rule_ids) and result["bad"] == 0
        print(
            f"{'':9} acknowledged {total}, refused {result['bad']}, in flight at the cut "
            f"{in_flight}, update events logged {logged}, data_versions advanced {advanced} "
            f"(events before the warm-up: {before}) -> {'OK' if sound else 'MISMATCH'}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk load per store")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (wrk threads)")
    parser.add_argument("--store", choices=["sqlite", "postgres"], action="append")
    parser.add_argument("--workers", type=int, default=1, help="admin server worker processes")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    for kind in reachable(args.store):
        bench_store(kind, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
