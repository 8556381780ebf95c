"""Property: after importing any Balrog history, ``at T`` shows what Balrog's history
tables say held at T, for every T Balrog recorded a rules change (and just before)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.balrog.points import balrog_rules_at, comparable, rule_times
from tests.balrog.scenarios import blob, rule
from tests.balrog.writer import BalrogWriter, create_balrog_db
from tests.conftest import new_store
from tests.integration.test_import_balrog import rulelog_rules_at, run_import

RELEASES = ("Firefox-120.0-build1", "Firefox-121.0-build1")
CHANNELS = ("release", "beta", "release-cdntest", "esr*")

step = st.sampled_from([0, 1, 2, 1000])
operation = st.one_of(
    st.tuples(st.just("insert"), st.sampled_from(CHANNELS), st.integers(0, 200), step),
    st.tuples(st.just("update"), st.integers(0, 9), st.integers(0, 200), step),
    st.tuples(st.just("delete"), st.integers(0, 9), st.none(), step),
    st.tuples(st.just("enact"), st.integers(0, 9), st.integers(0, 200), step),
)


def write_history(w: BalrogWriter, ops: list[tuple[str, Any, Any, int]]) -> None:
    for name in RELEASES:
        w.insert("releases", {"name": name, "product": "Firefox", "read_only": False,
                              "data": blob(name)}, "rm")
    live: list[int] = []
    for kind, arg, value, gap in ops:
        ts = w.tick(gap) + 1  # inserts write their mark at ts - 1: keep times increasing
        w.now = ts
        if kind == "insert":
            mapping = RELEASES[value % 2]
            live.append(w.insert("rules", rule(mapping, channel=arg, priority=value), "rm",
                                 ts)["rule_id"])
        elif not live:
            continue
        elif kind == "update":
            w.update("rules", {"rule_id": live[arg % len(live)]},
                     {"priority": value, "mapping": RELEASES[value % 2]}, "ed", ts)
        elif kind == "delete":
            w.delete("rules", {"rule_id": live.pop(arg % len(live))}, "del", ts)
        else:
            rule_id = live[arg % len(live)]
            cur = w.current("rules", {"rule_id": rule_id})
            assert cur is not None
            row = {k: v for k, v in cur.items() if k != "data_version"}
            sc = w.schedule("rules", "update", {**row, "backgroundRate": value % 101}, "rm",
                            when=ts + 5000, base_data_version=cur["data_version"], ts=ts)
            w.enact("rules", sc, ts=ts + 1)
            w.now = ts + 1


@settings(max_examples=12)
@given(st.lists(operation, min_size=1, max_size=25))
def test_at_t_equals_balrog_history_at_t(ops: list[tuple[str, Any, Any, int]]) -> None:
    with tempfile.TemporaryDirectory(prefix="rulelog-balrog-") as folder:
        url = f"sqlite:///{Path(folder) / 'balrog.db'}"
        w = BalrogWriter(create_balrog_db(url))
        try:
            write_history(w, ops)
            with new_store("sqlite") as store:
                app = store.open()
                try:
                    run_import(app, url)
                    for ms in [*rule_times(w.engine), w.now + 1]:
                        theirs = {
                            k: comparable(v) for k, v in balrog_rules_at(w.engine, ms).items()
                        }
                        assert rulelog_rules_at(app, ms) == theirs, ms
                finally:
                    app.close()
        finally:
            w.engine.dispose()
