"""Throughput and latency of ``rulelog serve public`` under wrk, next to a no-op ceiling.

    .venv/bin/python bench/serve.py [--duration 10] [--workers 2] [--connections 4]
                                    [--threads 2] [--urls 3000] [--store sqlite]

Starts the real server (``rulelog serve public --workers N``) on a fresh store
holding the fixture (imported through the CLI), then runs wrk with a Lua
script cycling through the URLs of each mix, one mix after the other:

  * noop     -- ``/__noop__``: a constant answer through the same stack
                (uvicorn, Starlette, the request-log middleware): the ceiling;
  * vectors  -- mix (a): the update URLs of the recorded Balrog vectors
                answered with 200;
  * random   -- mix (b): a few thousand distinct valid requests (random
                buildIDs, OS versions, locales, versions, platforms, channels);
  * release / release-cdntest -- mix (b)'s release-channel URLs, and the same
                URLs with the channel swapped.

Mixes run in interleaved slices (``--rounds``), so load drifting on a shared
machine weighs on all of them alike. Prints requests/s, p50 and p99 per mix
and the ratios: (b) against Balrog's 1150 req/s reference and against the
ceiling, (a) against the ceiling, p99 against the ceiling's p99, cdntest
against release. Needs ``wrk``
(``apt-get install -y wrk``). Nothing here is a test: no timing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stores import fresh_store, postgres_available

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
RULELOG = shutil.which("rulelog", path=str(Path(sys.executable).parent)) or "rulelog"
UVICORN = shutil.which("uvicorn", path=str(Path(sys.executable).parent)) or "uvicorn"
BALROG_REFERENCE = 1150.0  # req/s, Balrog's public app on comparable hardware

LUA = """
local paths = {%s}
local n = #paths
local i = 0
function init(args)
  i = math.random(n) - 1
end
function request()
  i = i %% n + 1
  return wrk.format("GET", paths[i])
end
function done(summary, latency, requests)
  io.write(string.format(
    "RESULT {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"p50_us\\": %%d, " ..
    "\\"p99_us\\": %%d, \\"bad_status\\": %%d, \\"errors\\": %%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""

FIREFOX_TARGETS = {
    "WINNT_x86_64-msvc-x64": "Windows_NT 10.0.0.0.{build}.{patch} (x64)",
    "WINNT_x86-msvc": "Windows_NT 6.1.1.0.{build}.{patch} (x86)",
    "WINNT_x86-msvc-x86": "Windows_NT 10.0.0.0.{build}.{patch} (x86)",
    "Darwin_x86_64-gcc3-u-i386-x86_64": "Darwin 23.{minor}.0",
    "Darwin_aarch64-gcc3": "Darwin 23.{minor}.0",
    "Linux_x86_64-gcc3": "Linux 6.{minor}.0-{patch}-generic (GTK 3.24.{gtk},libpulse 16.1.0)",
}
CHANNELS = ["release"] * 12 + ["beta"] * 4 + ["nightly"] * 2 + ["esr", "release-cck-partner"]
VERSIONS = {
    "release": ["118.0", "119.0", "119.0.1", "120.0", "120.0.1", "121.0"],
    "release-cck-partner": ["119.0", "120.0"],
    "beta": ["120.0", "121.0", "122.0"],
    "nightly": ["122.0a1", "123.0a1"],
    "esr": ["115.5.0", "115.6.0"],
}
LOCALES = ["en-US"] * 4 + ["de", "de", "fr", "fr", "ja"]


def _os_version(rng: random.Random, target: str) -> str:
    return FIREFOX_TARGETS[target].format(
        build=rng.randint(19041, 22631),
        patch=rng.randint(1, 3000),
        minor=rng.randint(0, 8),
        gtk=rng.randint(30, 41),
    )


def _seg(text: str) -> str:
    return quote(text, safe="(),:;")


def random_urls(count: int, seed: int = 1150) -> list[str]:
    """Distinct, valid requests shaped like real Firefox, Thunderbird and GMP clients."""
    rng, urls = random.Random(seed), set()
    while len(urls) < count:
        kind = rng.random()
        build_id = (
            f"2023{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 235959):06d}"
        )
        caps = f"ISET:{rng.choice(['SSE4_2', 'SSE4_1', 'AVX2'])},MEM:{rng.randint(2048, 65536)}"
        if kind < 0.85:
            target = rng.choice(list(FIREFOX_TARGETS))
            channel = rng.choice(CHANNELS)
            product, version = "Firefox", rng.choice(VERSIONS[channel])
        elif kind < 0.93:
            target = rng.choice(["WINNT_x86_64-msvc-x64", "Linux_x86_64-gcc3"])
            channel, product = rng.choice(["release", "esr"]), "Thunderbird"
            version = rng.choice(["115.4.0", "115.5.0", "115.6.0"])
        else:
            target = rng.choice(["WINNT_x86_64-msvc-x64", "Linux_x86_64-gcc3"])
            channel, product, version = "release", "GMP", rng.choice(["119.0", "120.0"])
        locale = rng.choice(LOCALES)
        if target.startswith("Darwin") and rng.random() < 0.1:
            locale = "ja-JP-mac"
        elif locale == "ja" and (product != "Firefox" or channel == "nightly"):
            locale = "de"  # those blobs have no "ja": Balrog answers 400
        parts = [
            product, version, build_id, target, locale, channel,
            _os_version(rng, target), caps, "default", "default",
        ]  # fmt: skip
        force = "?force=1" if rng.random() < 0.5 else ""
        urls.add("/update/6/" + "/".join(_seg(p) for p in parts) + "/update.xml" + force)
    return sorted(urls, key=lambda _: rng.random())


def vector_urls() -> list[str]:
    vectors = [json.loads(line) for line in (DATA / "expected.jsonl").read_text().splitlines()]
    return [
        v["url"]
        for v in vectors
        if v["status"] == 200 and v["url"].startswith(("/update", "/json"))
    ]


def run_cli(url: str, *args: str) -> None:
    env = {**os.environ, "RULELOG_DATABASE_URL": url}
    subprocess.run([RULELOG, *args], check=True, env=env, capture_output=True, timeout=300)


def create_token(url: str, username: str) -> str:
    """A new bearer token of ``username`` (``rulelog tokens create`` prints it last)."""
    made = subprocess.run(
        [RULELOG, "--database-url", url, "tokens", "create", username],
        check=True,
        capture_output=True,
        text=True,
    )
    return made.stdout.strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(base: str, process: subprocess.Popen[bytes], log_path: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/__lbheartbeat__", timeout=2) as answer:
                if answer.status < 500:
                    return
        except urllib.error.HTTPError as error:  # the ceiling answers every path, 200
            if error.code < 500:
                return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"server did not start; see {log_path}")
        time.sleep(0.1)


@contextmanager
def _serving(
    command: list[str], env: dict[str, str], log_path: str, port: int, *, own_session: bool = False
) -> Iterator[str]:
    """The server ``command`` started (in a session of its own if asked: ``bench/scale_apart``
    says why); yields its base URL once it answers, and stops it on leaving."""
    with open(log_path, "ab") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=own_session
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process, log_path)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def server(url: str, workers: int, log_path: str, app: str = "public") -> Iterator[str]:
    """``rulelog serve APP`` on a free port; yields its base URL once it answers."""
    port = free_port()
    env = {**os.environ, "RULELOG_DATABASE_URL": url}
    command = [RULELOG, "serve", app, "--port", str(port), "--workers", str(workers)]
    with _serving(command, env, log_path, port) as base:
        yield base


def find_ceiling() -> Path | None:
    """``shared/bench/ceiling_app.py`` in the nearest folder above the project that has one
    (``../shared`` from a checkout next to it, ``../../shared`` from a worktree)."""
    for folder in ROOT.parents:
        candidate = folder / "shared" / "bench" / "ceiling_app.py"
        if candidate.exists():
            return candidate
    return None


@contextmanager
def ceiling(path: Path, workers: int, log_path: str) -> Iterator[str]:
    """The bare Starlette no-op app under the uvicorn settings ``rulelog serve`` uses
    (workers, httptools/uvloop, no access log, no server header, log level warning)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(path.parent)}
    command = [
        *(UVICORN, f"{path.stem}:app", "--port", str(port), "--workers", str(workers)),
        *("--log-level", "warning", "--no-access-log", "--no-server-header"),
    ]
    with _serving(command, env, log_path, port) as base:
        yield base


def run_wrk(base: str, urls: list[str], args: argparse.Namespace, seconds: float) -> dict[str, Any]:
    return finish_wrk(start_wrk(base, urls, args.wrk_threads, args.connections, seconds))


def start_wrk(
    base: str,
    urls: list[str],
    threads: int,
    connections: int,
    seconds: float,
    *,
    own_session: bool = False,
) -> tuple[subprocess.Popen[str], str]:
    """wrk cycling through ``urls`` against ``base``, started; ``finish_wrk`` collects it."""
    table = ",".join(json.dumps(u) for u in urls)  # JSON strings are valid Lua strings here
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA % table)
    command = [
        *("wrk", "-t", str(threads), "-c", str(connections)),
        *("-d", f"{max(1, round(seconds))}s", "--latency", "-s", script.name, base),
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, start_new_session=own_session
    )
    return process, script.name


def finish_wrk(handle: tuple[subprocess.Popen[str], str]) -> dict[str, Any]:
    process, script = handle
    try:
        out, _ = process.communicate()
    finally:
        os.unlink(script)
    if process.returncode:
        raise SystemExit(f"wrk failed ({process.returncode})")
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per mix and target")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved slices per mix")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--threads", default="1,2", help="wrk threads; one run per value")
    parser.add_argument("--urls", type=int, default=3000, help="distinct URLs in mix (b)")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--ceiling", type=Path, default=find_ceiling(), help="ceiling_app.py")
    parser.add_argument("--log", default=os.devnull, help="where the servers' log lines go")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (Debian/Ubuntu)")
    if args.ceiling is None or not args.ceiling.exists():
        raise SystemExit("no ceiling app: pass --ceiling PATH/TO/shared/bench/ceiling_app.py")
    if args.store == "postgres" and not postgres_available():
        raise SystemExit("PostgreSQL is not reachable")
    random_mix = random_urls(args.urls)
    on_release = [u for u in random_mix if "/release/" in u]
    mixes = {
        "vectors (a)": vector_urls(),
        "random (b)": random_mix,
        "noop": ["/__noop__"],
        "release": on_release,
        "release-cdntest": [u.replace("/release/", "/release-cdntest/") for u in on_release],
    }
    with fresh_store(args.store) as url:
        run_cli(url, "users", "add", "bench", "--admin")
        run_cli(url, "import", str(DATA / "fixture.json"), "--as", "bench")
        with (
            server(url, args.workers, args.log) as base,
            ceiling(args.ceiling, args.workers, args.log) as bare,
        ):
            for threads in [int(t) for t in args.threads.split(",")]:
                args.wrk_threads = threads
                warm_up(base, bare, mixes, args)
                report(measure(base, bare, mixes, args), mixes, args)


def warm_up(base: str, bare: str, mixes: dict[str, list[str]], args: Any) -> None:
    """Every mix sent to rulelog before any is measured (its blobs loaded, its answers
    cached, test-channel views built, code paths hot), as the ceiling is warmed with
    each mix it is measured on: a mix met for the first time in its first slice
    would weigh its cold start on that slice's p99 alone."""
    for name, urls in mixes.items():
        run_wrk(base, urls, args, 2 if name == "random (b)" else 1)
        if name in PAIRED:
            run_wrk(bare, urls, args, 1)


#: Mixes also sent to the ceiling, each right before rulelog's slice (A B A B ...).
PAIRED = ("vectors (a)", "random (b)")


def measure(base: str, bare: str, mixes: dict[str, list[str]], args: Any) -> dict[str, Any]:
    """Every mix in ``--rounds`` interleaved slices, the ceiling's slice of a paired mix
    right before rulelog's, so load that drifts over the run (a shared machine) weighs
    on both alike; each ratio is taken within a round, and medians are reported."""
    slices: dict[str, list[dict[str, Any]]] = {name: [] for name in mixes}
    slices.update({f"ceiling {name}": [] for name in PAIRED})
    seconds = args.duration / args.rounds
    for _ in range(args.rounds):
        for name, urls in mixes.items():
            if name in PAIRED:
                slices[f"ceiling {name}"].append(run_wrk(bare, urls, args, seconds))
            slices[name].append(run_wrk(base, urls, args, seconds))
    return slices


def _spread(values: list[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}-{max(values):{fmt}}]"


def report(slices: dict[str, list[dict[str, Any]]], mixes: dict[str, list[str]], args: Any) -> None:
    print(
        f"\nwrk {args.wrk_threads} thread(s), {args.connections} connections; "
        f"{args.workers} server workers each, {args.store}; {args.rounds} slices of "
        f"{args.duration / args.rounds:g} s per mix and target; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f} at the end"
    )
    print("medians of the slices [min-max]")
    print(f"{'target':<28}{'urls':>6}{'req/s':>22}{'p99 ms':>22}{'non-2xx':>9}{'errors':>8}")
    for name, runs in slices.items():
        urls = len(mixes[name.removeprefix("ceiling ")])
        rps = _spread([r["rps"] for r in runs], ".0f")
        p99 = _spread([r["p99_us"] / 1000 for r in runs], ".2f")
        bad = sum(r["bad_status"] for r in runs)
        errors = sum(r["errors"] for r in runs)
        print(f"{name:<28}{urls:>6}{rps:>22}{p99:>22}{bad:>9}{errors:>8}")

    def ratio(a: str, b: str, key: str) -> list[float]:
        return [x[key] / max(y[key], 1) for x, y in zip(slices[a], slices[b], strict=True)]

    print("ratios, per round, median [min-max]:")
    for name, target in (("vectors (a)", 0.60), ("random (b)", 0.45)):
        rps = _spread(ratio(name, f"ceiling {name}", "rps"), ".2f")
        p99 = _spread(ratio(name, f"ceiling {name}", "p99_us"), ".2f")
        print(f"  {name} req/s vs ceiling:    {rps}   (target >= {target:.2f})")
        print(f"  {name} p99 vs ceiling p99:  {p99}   (target <= 2.00)")
    noop = _spread(ratio("noop", "ceiling vectors (a)", "rps"), ".2f")
    print(f"  rulelog's own no-op route vs ceiling: {noop}")
    b = statistics.median(r["rps"] for r in slices["random (b)"])
    print(f"  random (b) vs Balrog's {BALROG_REFERENCE:.0f} req/s: {b / BALROG_REFERENCE:.2f}x")
    cdn = _spread(ratio("release-cdntest", "release", "rps"), ".2f")
    print(f"  release-cdntest vs release:          {cdn}   (target >= 0.90)")


if __name__ == "__main__":
    main()
