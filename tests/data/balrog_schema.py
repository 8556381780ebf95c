"""Balrog's tables, written down from reading ``src/auslib/db.py`` (test data).

Every versioned base table gets ``data_version``; a table with history gets
``<name>_history`` (``change_id``, ``changed_by``, ``timestamp`` in ms, then
the base columns, all nullable, no keys); a table with scheduled changes gets
``<name>_scheduled_changes`` (``sc_id``, ``scheduled_by``, ``complete``,
``change_type``, ``base_<column>``..., ``data_version``), its ``_conditions``
(``when`` and/or the telemetry columns) and ``_signoffs`` (``sc_id``,
``username``, ``role``; not versioned), each with its own history. Releases
(``releases``, ``releases_json``, ``release_assets``) keep their history in
cloud storage in current Balrog, so they have no ``_history`` table here unless
``release_history=True`` (older Balrog kept ``releases_history`` in the database).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

#: Base table -> (key columns, other columns, scheduled-change conditions or None, history?)
_UPTAKE = ("time", "uptake")
_TIME = ("time",)


def _rules_columns() -> list[Column]:
    return [
        Column("rule_id", Integer, primary_key=True, autoincrement=True),
        Column("alias", String(50), unique=True),
        Column("priority", Integer),
        Column("mapping", String(100)),
        Column("fallbackMapping", String(100)),
        Column("backgroundRate", Integer),
        Column("update_type", String(15), nullable=False),
        Column("product", String(15)),
        Column("version", String(75)),
        Column("channel", String(75)),
        Column("buildTarget", String(75)),
        Column("buildID", String(20)),
        Column("locale", String(200)),
        Column("osVersion", String(1000)),
        Column("memory", String(100)),
        Column("instructionSet", String(1000)),
        Column("jaws", Integer),
        Column("mig64", Integer),
        Column("distribution", String(2000)),
        Column("distVersion", String(100)),
        Column("headerArchitecture", String(10)),
        Column("comment", String(500)),
    ]


def _key(name: str, length: int) -> Column:
    return Column(name, String(length), primary_key=True)


def _release_columns(data: Column) -> list[Column]:
    """``releases`` and ``releases_json``: the same but for the blob column's type."""
    return [
        _key("name", 100),
        Column("product", String(15), nullable=False),
        Column("read_only", Boolean, default=False),
        data,
    ]


def _base_tables() -> dict[str, tuple[list[Column], tuple[str, ...] | None, bool]]:
    """name -> (columns without data_version, scheduled-change conditions, has history)."""
    required = Column("signoffs_required", Integer, nullable=False)
    return {
        "rules": (_rules_columns(), _UPTAKE, True),
        "releases": (_release_columns(Column("data", Text, nullable=False)), _TIME, False),
        "releases_json": (_release_columns(Column("data", JSON)), _TIME, False),
        "release_assets": (
            [_key("name", 100), _key("path", 200), Column("data", JSON)],
            _TIME,
            False,
        ),
        "emergency_shutoffs": (
            [_key("product", 15), _key("channel", 75), Column("comment", String(500))],
            _TIME,
            True,
        ),
        "pinnable_releases": (
            [
                *(_key("product", 15), _key("version", 75), _key("channel", 75)),
                Column("mapping", String(100), nullable=False),
            ],
            _TIME,
            True,
        ),
        "permissions": (
            [_key("permission", 50), _key("username", 100), Column("options", Text)],
            _TIME,
            True,
        ),
        "user_roles": ([_key("username", 100), _key("role", 50)], None, True),
        "product_req_signoffs": (
            [_key("product", 15), _key("channel", 75), _key("role", 50), required._copy()],
            _TIME,
            True,
        ),
        "permissions_req_signoffs": (
            [_key("product", 15), _key("role", 50), required._copy()],
            _TIME,
            True,
        ),
    }


def _history(metadata: MetaData, name: str, columns: list[Column], ts_type: type) -> Table:
    copies = []
    for col in columns:
        copy = col._copy()
        copy.primary_key = False
        copy.unique = None
        copy.nullable = not col.primary_key
        copy.autoincrement = False
        copies.append(copy)
    return Table(
        f"{name}_history",
        metadata,
        Column("change_id", Integer, primary_key=True, autoincrement=True),
        Column("changed_by", String(100), nullable=False),
        Column("timestamp", ts_type, nullable=False),
        *copies,
    )


def balrog_metadata(dialect: str = "sqlite", *, release_history: bool = False) -> MetaData:
    """Every table of a Balrog database, as ``Table`` objects to ``create_all``."""
    metadata = MetaData()
    ts_type = Integer if dialect == "sqlite" else BigInteger
    for name, (columns, conditions, has_history) in _base_tables().items():
        base = [*columns, Column("data_version", Integer, nullable=False)]
        # MySQL never reuses an AUTO_INCREMENT id; SQLite does unless told (as Balrog's own
        # SQLite tables are not): these tables follow MySQL, the production database.
        Table(name, metadata, *[c._copy() for c in base], sqlite_autoincrement=name == "rules")
        if has_history or (release_history and name == "releases"):
            _history(metadata, name, base, ts_type)
        if conditions is None:
            continue
        sc_name = f"{name}_scheduled_changes"
        base_cols = []
        for col in columns:
            copy = col._copy()
            copy.key = copy.name = f"base_{col.name}"
            copy.primary_key = False
            copy.unique = None
            copy.autoincrement = False
            copy.nullable = not (col.primary_key and not isinstance(col.type, Integer))
            base_cols.append(copy)
        sc_cols = [
            Column("sc_id", Integer, primary_key=True, autoincrement=True),
            Column("scheduled_by", String(100), nullable=False),
            Column("complete", Boolean, default=False),
            Column("change_type", String(50), nullable=False),
            *base_cols,
            Column("base_data_version", Integer),
            Column("data_version", Integer, nullable=False),
        ]
        Table(sc_name, metadata, *[c._copy() for c in sc_cols], sqlite_autoincrement=True)
        _history(metadata, sc_name, sc_cols, ts_type)
        cond_cols = [Column("sc_id", Integer, primary_key=True, autoincrement=False)]
        if "uptake" in conditions:
            cond_cols += [
                Column("telemetry_product", String(15)),
                Column("telemetry_channel", String(75)),
                Column("telemetry_uptake", Integer),
            ]
        cond_cols += [
            Column("when", ts_type),
            Column("data_version", Integer, nullable=False),
        ]
        Table(f"{sc_name}_conditions", metadata, *[c._copy() for c in cond_cols])
        _history(metadata, f"{sc_name}_conditions", cond_cols, ts_type)
        signoff_cols = [
            Column("sc_id", Integer, primary_key=True, autoincrement=False),
            Column("username", String(100), primary_key=True),
            Column("role", String(50), nullable=False),
        ]
        Table(f"{sc_name}_signoffs", metadata, *[c._copy() for c in signoff_cols])
        _history(metadata, f"{sc_name}_signoffs", signoff_cols, ts_type)
    Table("dockerflow", metadata, Column("watchdog", Integer, nullable=False))
    return metadata
