"""Every ``RULELOG_*`` setting, in one object validated when a process starts.

Each setting is one field of ``Settings`` (environment variable ``RULELOG_`` +
the field name in capitals), with its default and a one-line description that
both ``rulelog config`` and the README's table show. A bad value stops the
process at start with one line naming the variable, instead of failing on the
first request that reads it. To add a setting: add a field here and a row to
the README's "Settings" table (a test checks the two agree).

This module is imported by the CLI before any command runs, so it imports only
pydantic; what a setting's value is *used* for is loaded where it is used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["PREFIX", "SECRET", "Settings", "SettingsError", "describe", "load_settings"]

PREFIX = "RULELOG_"
#: What ``rulelog config`` prints instead of a secret's value.
SECRET = "********"

DEFAULT_ALLOWLIST_WARNING = (
    "RULELOG_DOMAIN_ALLOWLIST is unset: release blobs may only name Mozilla's production "
    "download hosts; blobs naming any other host are refused and never served"
)

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class SettingsError(ValueError):
    """A setting's value is refused: ``message`` is the one line to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Settings(BaseSettings):
    """The effective configuration of one rulelog process."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, extra="ignore", frozen=True, case_sensitive=False
    )

    database_url: str = Field(
        "sqlite:///rulelog.db",
        description="The event store (sqlite:///PATH or postgresql+psycopg://...); "
        "--database-url overrides it.",
    )
    log_level: LogLevel | None = Field(
        None,
        description="Least severe log level shown [unset: INFO for servers and the agent, "
        "WARNING for other commands]; --log-level overrides it.",
    )
    log_format: Literal["auto", "mozlog", "json", "console"] = Field(
        "auto",
        description="mozlog (Balrog's MozLog JSON), json, console (coloured key=value), "
        "or auto (console on a terminal, else json).",
    )
    sentry_dsn: SecretStr | None = Field(
        None, description="Report unexpected errors to this Sentry DSN (secret)."
    )
    domain_allowlist: Path | None = Field(
        None,
        description="JSON file of download hosts per product. UNSET MEANS MOZILLA'S "
        "PRODUCTION HOSTS: blobs naming any other host are refused and never served.",
    )
    checkpoint_every: int = Field(
        1000, ge=1, description="Events between two checkpoints of the folded state."
    )
    cache_control: str = Field(
        "public, max-age=90", description="Cache-Control of the update server's answers."
    )
    poll_interval: float = Field(
        0.2, ge=0.01, description="Seconds between the update server's polls of the log."
    )
    answer_cache: int = Field(
        20_000,
        ge=0,
        description="Update answers each serving process keeps per index generation "
        "(0 turns the cache off).",
    )
    start_from_checkpoint: bool = Field(
        True,
        description="A serving process starts from the newest checkpoint of the folded "
        "state (false: it folds the whole log).",
    )
    version_file: Path | None = Field(
        None, description="A version.json served as /__version__ (dockerflow)."
    )
    commit: str = Field("unknown", description="The commit /__version__ names when no file.")
    fingerprint_policy: Literal["refuse", "warn"] = Field(
        "refuse",
        description="What the agent does when a signoff was given on a different test view.",
    )
    agent_backoff_max: float = Field(
        60.0,
        gt=0,
        description="Longest wait (seconds) between the agent's retries after a database error.",
    )
    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_capitals(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.domain_allowlist is not None:
            read_allowlist(self.domain_allowlist)
        return self

    def allowlist(self) -> Any:
        """The download hosts blobs may name: the file's, else Mozilla's production list."""
        if self.domain_allowlist is None:
            from domain.blobs.common import PRODUCTION_ALLOWLIST

            return PRODUCTION_ALLOWLIST
        return read_allowlist(self.domain_allowlist)


def env_name(field: str) -> str:
    return PREFIX + field.upper()


def read_allowlist(path: Path) -> dict[str, Any]:
    """``{"host": ["Product", ...], "host2": {"path regex": ["Product"]}}`` from ``path``."""
    name = env_name("domain_allowlist")
    try:
        loaded = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SettingsError(f"{name}: cannot read {path}: {error}") from None
    if not isinstance(loaded, dict) or not all(
        isinstance(v, list | dict) for v in loaded.values()
    ):
        raise SettingsError(f"{name}: {path} must map hosts to lists of products")
    return {host: tuple(v) if isinstance(v, list) else v for host, v in loaded.items()}


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """The settings from ``env`` (default: the process environment), or one-line ``SettingsError``.

    An explicit ``env`` is read alone (the process environment is not consulted),
    so tests and callers can describe a deployment completely.
    """
    try:
        if env is None:
            return Settings()
        fields = {
            name: env[env_name(name)]
            for name in Settings.model_fields
            if env.get(env_name(name)) not in (None, "")
        }
        return Settings.model_validate(fields)
    except ValidationError as error:
        raise SettingsError(_one_line(error)) from None
    except SettingsError:
        raise


def _one_line(error: ValidationError) -> str:
    parts = []
    for problem in error.errors():
        ctx_error = (problem.get("ctx") or {}).get("error")
        if isinstance(ctx_error, SettingsError):
            parts.append(ctx_error.message)
            continue
        loc = problem.get("loc") or ()
        if not loc:  # a model-level check: its message names the variables
            parts.append(str(ctx_error or problem["msg"]).removeprefix("Value error, "))
            continue
        value = problem.get("input")
        parts.append(f"{env_name(str(loc[0]))}: {problem['msg'].lower()} (got {value!r})")
    return "; ".join(parts)


def describe(settings: Settings, *, explicit: Mapping[str, Any] | None = None) -> list[dict]:
    """Every setting as ``rulelog config`` prints it: name, value (secrets masked), source."""
    explicit = dict(explicit or {})
    rows = []
    for name, field in Settings.model_fields.items():
        value = explicit.get(name, getattr(settings, name))
        if isinstance(value, SecretStr):
            value = SECRET
        elif name == "database_url" and value:
            value = mask_url(str(value))
        elif isinstance(value, Path):
            value = str(value)
        if name in explicit:
            source = "option"
        elif name in settings.model_fields_set:
            source = "environment"
        else:
            source = "default"
        rows.append(
            {
                "setting": env_name(name),
                "value": value,
                "source": source,
                "description": field.description,
            }
        )
    return rows


def mask_url(url: str) -> str:
    """``url`` with its password (if any) replaced, without importing SQLAlchemy."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user, colon, _password = credentials.partition(":")
    return f"{scheme}://{user}{':' + SECRET if colon else ''}@{host}"
