"""Traffic impact over a big sample, next to serving the same requests.

    .venv/bin/python bench/impact.py [--count 100000] [--distinct 20000]

On a fresh SQLite store with the test fixture, a sample of N request targets
(versions, platforms, locales and channels varied) is recorded, then:
  * impact: ``services.impact.scheduled_impact`` of one pending rule change (the
    sample read from the store, both indexes built, every target answered twice,
    moves grouped);
  * baseline: the same N targets evaluated once by the serving code
    (``domain.evaluate`` over the live index, as the server answers them), warm.
Target: impact <= 2 s for N = 100,000. Impact answers each *distinct* target of the
products the change touches twice (a sample repeats itself), so the ratio can fall
below 1; the baseline answers every target once, as the servers did.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.expectations import LOCALES, TARGETS
from bench.stores import fresh_store
from rulelog.api.config import open_app
from rulelog.api.logs import configure_logging
from rulelog.domain.errors import Invalid
from rulelog.domain.serving.evaluate import evaluate
from rulelog.domain.serving.request import parse_url
from rulelog.projections.explain import index_of
from rulelog.projections.log import read_log
from rulelog.projections.state import Catalog
from rulelog.services.impact import record_sample, scheduled_impact

ROOT = Path(__file__).resolve().parent.parent
CHANNELS = ("release", "release", "release", "beta", "release-cdntest")


def targets(count: int, distinct: int) -> list[str]:
    """``count`` targets of which about ``distinct`` differ (real samples repeat: many
    installations share a version, build, platform and locale)."""
    out = []
    for i in range(count):
        k = (i * 7919) % distinct
        build = 20231120000000 + k % 997
        out.append(
            f"/update/6/Firefox/{100 + k % 23}.0/{build}/{TARGETS[k % 3]}/"
            f"{LOCALES[k % 10]}/{CHANNELS[k % 5]}/Linux/default/default/default/update.xml"
        )
    return out


def serve_all(index, urls: list[str]) -> None:
    for url in urls:
        request = parse_url(url)
        with contextlib.suppress(Invalid):  # answered as Balrog does (an error page)
            evaluate(request, index.for_request(request, load=True), rng=lambda: 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--distinct", type=int, default=20_000, help="Distinct targets.")
    args = parser.parse_args()
    configure_logging("WARNING")
    urls = targets(args.count, args.distinct)
    with fresh_store("sqlite") as url:
        app = open_app(url)
        app.add_user("bench", admin=True, recorded_by="bench")
        app.import_snapshot(json.loads((ROOT / "tests/data/fixture.json").read_text()), "bench")
        german = {"product": "Firefox", "channel": "release", "locale": "de", "priority": 91,
                  "mapping": "Firefox-120.0-build1", "backgroundRate": 100,
                  "update_type": "minor"}  # fmt: skip
        when = {"when": "2099-01-01T00:00:00+00:00"}
        sc = app.schedule_change("rules", "insert", german, when, "bench")
        record_sample(app, urls, keep=args.count)
        state = Catalog().fold(read_log(app))
        scheduled_impact(app, state, "rules", sc.sc_id)  # warm the store's blob reads once
        start = time.perf_counter()
        found = scheduled_impact(app, state, "rules", sc.sc_id)
        impact = time.perf_counter() - start
        index = index_of(state, app)
        serve_all(index, urls)  # load blobs, build narrowed tables
        start = time.perf_counter()
        serve_all(index, urls)
        baseline = time.perf_counter() - start
    print(f"sampled requests replayed: {found['replayed']} ({len(set(urls))} distinct, "
          f"{found['moved']} would move)")  # fmt: skip
    print(f"impact:   {impact:.3f} s (target <= 2 s for 100,000)")
    print(f"baseline: {baseline:.3f} s (serving evaluation of the same {len(urls)} requests)")
    print(f"ratio:    {impact / baseline:.2f}")


if __name__ == "__main__":
    main()
