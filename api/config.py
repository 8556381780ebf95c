"""Which store to open: the one place a database URL is chosen and checked.

Order of precedence: ``--database-url``, then ``RULELOG_DATABASE_URL``, then
``sqlite:///rulelog.db`` in the working directory, so a new user needs no
server and production points the same code at PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Mapping

from rulelog.api.database_url import normalized_url
from rulelog.api.settings import DEFAULT_ALLOWLIST_WARNING, Settings, SettingsError, load_settings
from rulelog.domain.errors import Invalid
from rulelog.domain.serving.blobs.common import Allowlist
from rulelog.projections.timeline import Timeline
from rulelog.services.application import PERSISTENCE_MODULE, RulelogApp
from rulelog.services.timelines import timeline_of

DEFAULT_DATABASE_URL = "sqlite:///rulelog.db"
ENV_DATABASE_URL = "RULELOG_DATABASE_URL"


def database_url(explicit: str | None = None) -> str:
    """The URL to use, normalised to a driver rulelog ships with."""
    return normalized_url(explicit or settings().database_url)


def open_app(url: str | None = None, *, schema: str | None = None) -> RulelogApp:
    """An application on the chosen store, creating its tables on first use."""
    env = {
        "PERSISTENCE_MODULE": PERSISTENCE_MODULE,
        "SQLALCHEMY_URL": database_url(url),
    }
    if schema:
        env["SQLALCHEMY_SCHEMA"] = schema
    return RulelogApp(env=env)


ENV_CHECKPOINT_EVERY = "RULELOG_CHECKPOINT_EVERY"


def checkpoint_every() -> int:
    """How many events between two checkpoints of the folded state (default 1000)."""
    return settings().checkpoint_every


def open_timeline(app: RulelogApp) -> Timeline:
    """The position/time index and checkpoints, in the store's own database."""
    return timeline_of(app, every=checkpoint_every())


ENV_DOMAIN_ALLOWLIST = "RULELOG_DOMAIN_ALLOWLIST"


def domain_allowlist(env: Mapping[str, str] | None = None) -> Allowlist:
    """Download hosts per product (``RULELOG_DOMAIN_ALLOWLIST``, else Balrog's production
    list). One setting for both apps: the admin API refuses blobs naming other hosts,
    and the update server never offers their URLs."""
    return settings(env).allowlist()


def warn_about_defaults(loaded: Settings) -> None:
    """Say loudly, at start, the default that silently changes answers elsewhere."""
    if loaded.domain_allowlist is None:
        from rulelog.api.logs import get_logger

        get_logger("rulelog.settings").warning(
            "settings.default_domain_allowlist", message=DEFAULT_ALLOWLIST_WARNING
        )


def settings(env: Mapping[str, str] | None = None) -> Settings:
    """``load_settings`` with its one-line error as the domain's ``Invalid``."""
    try:
        return load_settings(env)
    except SettingsError as error:
        raise Invalid(error.message) from None
