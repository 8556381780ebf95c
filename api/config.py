"""Which store to open: the one place a database URL is chosen and checked.

Order of precedence: ``--database-url``, then ``RULELOG_DATABASE_URL``, then
``sqlite:///rulelog.db`` in the working directory, so a new user needs no
server and production points the same code at PostgreSQL.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from domain.application import RulelogApp
from domain.blobs.common import PRODUCTION_ALLOWLIST, Allowlist
from domain.errors import Invalid
from projections.timeline import Timeline

DEFAULT_DATABASE_URL = "sqlite:///rulelog.db"
ENV_DATABASE_URL = "RULELOG_DATABASE_URL"


def database_url(explicit: str | None = None) -> str:
    """The URL to use, normalised to a driver rulelog ships with."""
    url = explicit or os.environ.get(ENV_DATABASE_URL) or DEFAULT_DATABASE_URL
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise Invalid(f"database URL: cannot parse {url!r}", field="database_url") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        # psycopg 3 is the driver rulelog depends on; plain postgresql:// means psycopg2.
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend != "sqlite":
        raise Invalid(
            f"database URL: {backend} is not supported; use sqlite:/// or postgresql+psycopg://",
            field="database_url",
        )
    return url


def open_app(url: str | None = None, *, schema: str | None = None) -> RulelogApp:
    """An application on the chosen store, creating its tables on first use."""
    env = {
        "PERSISTENCE_MODULE": "eventsourcing_sqlalchemy",
        "SQLALCHEMY_URL": database_url(url),
    }
    if schema:
        env["SQLALCHEMY_SCHEMA"] = schema
    return RulelogApp(env=env)


ENV_CHECKPOINT_EVERY = "RULELOG_CHECKPOINT_EVERY"


def checkpoint_every() -> int:
    """How many events between two checkpoints of the folded state (default 1000)."""
    raw = os.environ.get(ENV_CHECKPOINT_EVERY, "")
    if not raw:
        return 1000
    if not raw.isdigit() or int(raw) < 1:
        raise Invalid(f"{ENV_CHECKPOINT_EVERY}: must be a positive integer, got {raw!r}")
    return int(raw)


def open_timeline(app: RulelogApp) -> Timeline:
    """The position/time index and checkpoints, in the store's own database."""
    engine = app.recorder.datastore.engine  # type: ignore[attr-defined]
    return Timeline(app, str(engine.url), every=checkpoint_every(), engine=engine)


ENV_DOMAIN_ALLOWLIST = "RULELOG_DOMAIN_ALLOWLIST"


def domain_allowlist(env: Mapping[str, str] | None = None) -> Allowlist:
    """Download hosts per product: Balrog's production list, or the JSON file named by
    ``RULELOG_DOMAIN_ALLOWLIST`` (``{"host": ["Product", ...], "host2": {"path regex":
    ["Product"]}}``). One setting for both apps: the admin API refuses blobs naming
    other hosts, and the update server never offers their URLs."""
    path = (os.environ if env is None else env).get(ENV_DOMAIN_ALLOWLIST, "")
    if not path:
        return PRODUCTION_ALLOWLIST
    try:
        loaded = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise Invalid(f"{ENV_DOMAIN_ALLOWLIST}: cannot read {path}: {error}") from None
    if not isinstance(loaded, dict) or not all(isinstance(v, list | dict) for v in loaded.values()):
        raise Invalid(f"{ENV_DOMAIN_ALLOWLIST}: {path} must map hosts to lists of products")
    return {host: tuple(v) if isinstance(v, list) else v for host, v in loaded.items()}
