"""Builds Balrog databases with histories, writing them the way Balrog does.

An insert writes the row and two history rows (the keys alone at ``ts - 1``,
then the full row at ``ts``); an update writes the new row with the next
``data_version``; a delete writes the keys alone. Scheduled changes write
their row and their conditions row in step (same ``data_version``), signoffs
their own unversioned rows, and an enactment marks the change complete and
then changes the base table, all at one time, as ``ScheduledChangeTable``
does. Used by the import tests, the property test and ``bench/import_balrog.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    MetaData,
    Table,
    and_,
    create_engine,
    insert,
    select,
)
from sqlalchemy import delete as sql_delete
from sqlalchemy import update as sql_update

from tests.data.balrog_schema import balrog_metadata

#: Base table -> its key columns.
KEYS: dict[str, tuple[str, ...]] = {
    "rules": ("rule_id",),
    "releases": ("name",),
    "emergency_shutoffs": ("product", "channel"),
    "pinnable_releases": ("product", "version", "channel"),
    "permissions": ("permission", "username"),
    "user_roles": ("username", "role"),
    "product_req_signoffs": ("product", "channel", "role"),
    "permissions_req_signoffs": ("product", "role"),
    "releases_json": ("name",),
    "release_assets": ("name", "path"),
}


#: A row, a key or changes to a row: column -> value, as Balrog's tables take them.
Row = dict[str, Any]


def create_balrog_db(url: str, *, release_history: bool = False) -> Engine:
    """An empty Balrog database at ``url`` (every table created)."""
    engine = create_engine(url)
    balrog_metadata(engine.dialect.name, release_history=release_history).create_all(engine)
    return engine


class BalrogWriter:
    """Writes rows and their history as Balrog would, at explicit times (ms)."""

    def __init__(self, engine: Engine, start_ms: int = 1_700_000_000_000) -> None:
        self.engine = engine
        self.metadata = MetaData()
        self.metadata.reflect(engine)
        self.now = start_ms
        self._conn: Connection | None = None

    @contextmanager
    def batch(self) -> Iterator[BalrogWriter]:
        """Write everything inside one transaction (fast bulk generation)."""
        with self.engine.begin() as conn:
            self._conn = conn
            try:
                yield self
            finally:
                self._conn = None

    def _run(self, statement: Any) -> Any:
        if self._conn is not None:
            return self._conn.execute(statement)
        with self.engine.begin() as conn:
            return conn.execute(statement)

    def t(self, name: str) -> Table:
        return self.metadata.tables[name]

    def tick(self, ms: int = 1000) -> int:
        self.now += ms
        return self.now

    def has_history(self, table: str) -> bool:
        return f"{table}_history" in self.metadata.tables

    def _history(self, table: str, row: Row, by: str, ts: int) -> None:
        if self.has_history(table):
            name = f"{table}_history"
            row = self._fit(name, row)
            self._run(insert(self.t(name)).values(changed_by=by, timestamp=ts, **row))

    def _fit(self, table: str, values: Row) -> Row:
        """JSON columns as the database declares them: MariaDB's ``JSON`` is text to
        a reader that reflects it (as Balrog's MySQL is to rulelog's import)."""
        t = self.t(table)
        return {
            k: json.dumps(v)
            if isinstance(v, dict | list) and not isinstance(t.c[k].type, JSON)
            else v
            for k, v in values.items()
        }

    def _where(self, table: str, key: Row) -> Any:
        t = self.t(table)
        return and_(*[t.c[k] == v for k, v in key.items()])

    def current(self, table: str, key: Row) -> Row | None:
        row = self._run(select(self.t(table)).where(self._where(table, key))).mappings().first()
        return dict(row) if row is not None else None

    # ---------------------------------------------------------------- base rows

    def insert(self, table: str, row: Row, by: str, ts: int | None = None) -> dict:
        ts = ts if ts is not None else self.tick()
        values = {**_encode(table, row), "data_version": 1}
        result = self._run(insert(self.t(table)).values(**self._fit(table, values)))
        if table == "rules" and values.get("rule_id") is None:
            values["rule_id"] = result.inserted_primary_key[0]
        key = {k: values[k] for k in KEYS[table]}
        self._history(table, key, by, ts - 1)
        self._history(table, values, by, ts)
        return values

    def update(self, table: str, key: Row, changes: Row, by: str, ts: int | None = None) -> dict:
        ts = ts if ts is not None else self.tick()
        old = self.current(table, key)
        assert old is not None, f"{table} {key} does not exist"
        new = {**old, **_encode(table, changes), "data_version": old["data_version"] + 1}
        where = self._where(table, key)
        self._run(sql_update(self.t(table)).where(where).values(**self._fit(table, new)))
        self._history(table, new, by, ts)
        return new

    def delete(self, table: str, key: Row, by: str, ts: int | None = None) -> None:
        ts = ts if ts is not None else self.tick()
        self._run(sql_delete(self.t(table)).where(self._where(table, key)))
        self._history(table, dict(key), by, ts)

    # --------------------------------------------------------- scheduled changes

    def schedule(
        self,
        table: str,
        change_type: str,
        row: Row,
        by: str,
        when: int | None = None,
        uptake: tuple[str, str, int] | None = None,
        base_data_version: int | None = None,
        ts: int | None = None,
    ) -> int:
        ts = ts if ts is not None else self.tick()
        sc = f"{table}_scheduled_changes"
        values = {
            "scheduled_by": by,
            "complete": False,
            "change_type": change_type,
            **{f"base_{k}": v for k, v in _encode(table, row).items()},
            "base_data_version": base_data_version,
            "data_version": 1,
        }
        added = self._run(insert(self.t(sc)).values(**self._fit(sc, values)))
        sc_id = added.inserted_primary_key[0]
        self._history(sc, {"sc_id": sc_id}, by, ts - 1)
        self._history(sc, {"sc_id": sc_id, **values}, by, ts)
        cond = {"sc_id": sc_id, "data_version": 1, "when": when}
        if uptake is not None:
            cond.update(
                telemetry_product=uptake[0], telemetry_channel=uptake[1], telemetry_uptake=uptake[2]
            )
        self._run(insert(self.t(f"{sc}_conditions")).values(**cond))
        self._history(f"{sc}_conditions", {"sc_id": sc_id}, by, ts - 1)
        self._history(f"{sc}_conditions", cond, by, ts)
        return sc_id

    def modify(
        self,
        table: str,
        sc_id: int,
        changes: Row,
        by: str,
        when: int | None = None,
        ts: int | None = None,
    ) -> None:
        """A modification: new base columns, the next data_version; others' signoffs go."""
        ts = ts if ts is not None else self.tick()
        sc = f"{table}_scheduled_changes"
        self._sc_step(
            sc,
            sc_id,
            {f"base_{k}": v for k, v in _encode(table, changes).items()} | {"scheduled_by": by},
            {"when": when} if when else {},
            by,
            ts,
        )
        for signoff in self._signoffs(sc, sc_id):
            if signoff["username"] != by:
                self.revoke(table, sc_id, signoff["username"], by, ts)

    def _sc_step(
        self, sc: str, sc_id: int, changes: dict, cond_changes: dict, by: str, ts: int
    ) -> None:
        for name, what in ((f"{sc}_conditions", cond_changes), (sc, changes)):
            old = self.current(name, {"sc_id": sc_id})
            assert old is not None
            new = {**old, **what, "data_version": old["data_version"] + 1}
            self._run(
                sql_update(self.t(name))
                .where(self._where(name, {"sc_id": sc_id}))
                .values(**self._fit(name, new))
            )
            self._history(name, new, by, ts)

    def _signoffs(self, sc: str, sc_id: int) -> list[Row]:
        t = self.t(f"{sc}_signoffs")
        return [dict(r) for r in self._run(select(t).where(t.c.sc_id == sc_id)).mappings()]

    def sign_off(
        self, table: str, sc_id: int, username: str, role: str, ts: int | None = None
    ) -> None:
        ts = ts if ts is not None else self.tick()
        name = f"{table}_scheduled_changes_signoffs"
        row = {"sc_id": sc_id, "username": username, "role": role}
        self._run(insert(self.t(name)).values(**row))
        self._history(name, {"sc_id": sc_id, "username": username}, username, ts - 1)
        self._history(name, row, username, ts)

    def revoke(self, table: str, sc_id: int, username: str, by: str, ts: int | None = None) -> None:
        ts = ts if ts is not None else self.tick()
        name = f"{table}_scheduled_changes_signoffs"
        key = {"sc_id": sc_id, "username": username}
        self._run(sql_delete(self.t(name)).where(self._where(name, key)))
        self._history(name, key, by, ts)

    def cancel(self, table: str, sc_id: int, by: str, ts: int | None = None) -> None:
        ts = ts if ts is not None else self.tick()
        sc = f"{table}_scheduled_changes"
        for name in (sc, f"{sc}_conditions"):
            self._run(sql_delete(self.t(name)).where(self._where(name, {"sc_id": sc_id})))
            self._history(name, {"sc_id": sc_id}, by, ts)

    def enact(self, table: str, sc_id: int, ts: int | None = None) -> dict | None:
        """Mark complete, then make the change, as the agent does (as ``scheduled_by``)."""
        ts = ts if ts is not None else self.tick()
        sc = f"{table}_scheduled_changes"
        row = self.current(sc, {"sc_id": sc_id})
        assert row is not None and not row["complete"]
        by = row["scheduled_by"]
        self._sc_step(sc, sc_id, {"complete": True}, {}, by, ts)
        base = {k[5:]: v for k, v in row.items() if k.startswith("base_")}
        base.pop("data_version")
        key = {k: base[k] for k in KEYS[table]}
        if row["change_type"] == "insert":
            return self.insert(table, base, by, ts)
        if row["change_type"] == "update":
            return self.update(table, key, base, by, ts)
        self.delete(table, key, by, ts)
        return None


def _encode(table: str, row: Row) -> Row:
    """Column values as Balrog stores them (release blobs and options as JSON text)."""
    out = dict(row)
    if table == "releases" and isinstance(out.get("data"), dict):
        out["data"] = json.dumps(out["data"])
    if table == "permissions" and isinstance(out.get("options"), dict):
        out["options"] = json.dumps(out["options"])
    return out
