"""Every ``RULELOG_*`` setting, in one object validated when a process starts.

Each setting is one field of ``Settings`` (environment variable ``RULELOG_`` +
the field name in capitals), with its default and a one-line description that
both ``rulelog config`` and the README's table show. A bad value stops the
process at start with one line naming the variable, instead of failing on the
first request that reads it. To add a setting: add a field here and a row to
the README's "Settings" table (a test checks the two agree). The content
signers are the one exception: named per product
(``RULELOG_AUTOGRAPH[_<PRODUCT>]_*``, ``RULELOG_SIGNING[_<PRODUCT>]_*``), they are
gathered into the ``signers`` field (passwords as ``SecretStr``) and validated
at start through ``api.content_signature``, which reads them.

This module is imported by the CLI before any command runs, so it imports only
pydantic; what a setting's value is *used* for is loaded where it is used.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["FAMILIES", "PREFIX", "SECRET", "Settings", "SettingsError", "describe", "load_settings"]

PREFIX = "RULELOG_"
#: What ``rulelog config`` prints instead of a secret's value.
SECRET = "********"

DEFAULT_ALLOWLIST_WARNING = (
    "RULELOG_DOMAIN_ALLOWLIST is unset: release blobs may only name Mozilla's production "
    "download hosts; blobs naming any other host are refused and never served"
)

#: The default of ``RULELOG_MAX_BODY_BYTES`` (why: ``api/body_limit.py``).
DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024
SIGNER_PREFIXES = (PREFIX + "AUTOGRAPH", PREFIX + "SIGNING_")
SIGNER_NAME = re.compile(
    r"RULELOG_(AUTOGRAPH(_.+)?_(URL|KEYID|USERNAME|PASSWORD)|SIGNING(_.+)?_(KEY_FILE|X5U))"
)
#: Fields that are not one variable each (``describe`` shows their members instead).
FAMILIES = ("signers",)

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
        1000,
        ge=1,
        description="Fewest events between two full checkpoints of the folded state "
        "(they are spaced by the catalogue's size beyond that); a past state folds "
        "at most min(128, this) events after its checkpoint and deltas.",
    )
    cache_control: str = Field(
        "public, max-age=90", description="Cache-Control of the update server's answers."
    )
    poll_interval: float = Field(
        0.2, ge=0.01, description="Seconds between the update server's polls of the log."
    )
    switch_interval: float = Field(
        0.001,
        gt=0,
        le=0.1,
        description="Seconds a serving process's thread may hold the interpreter while "
        "another waits for it (Python's sys.setswitchinterval; its default is 0.005).",
    )
    answer_cache: int = Field(
        20_000,
        ge=0,
        description="Update answers each serving process keeps per index generation "
        "(0 turns the cache off).",
    )
    blob_cache_size: int = Field(
        8192,
        ge=1,
        description="Release blobs each serving process keeps in memory (the oldest "
        "loaded is dropped beyond that and loaded again when a request needs it).",
    )
    impact_sample_rate: float = Field(
        0.01,
        ge=0,
        le=1,
        description="Share of answered update requests each serving process keeps for "
        "`rulelog impact` (0 keeps none).",
    )
    impact_sample_size: int = Field(
        100_000, ge=1, description="Sampled update requests kept (the newest)."
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
    max_body_bytes: int = Field(
        DEFAULT_MAX_BODY_BYTES,
        ge=1,
        description="Longest request body (bytes) either server reads; longer ones are 413.",
    )
    cors_origins: str = Field(
        "",
        description="Origins (comma-separated scheme://host[:port], or *) Balrog's UI may "
        "call the admin API from [unset: none].",
    )
    jwt_issuer: str | None = Field(
        None, description="Issuer of the OIDC tokens the admin server accepts [unset: none]."
    )
    jwt_audience: str | None = Field(None, description="Audience those tokens must name.")
    jwt_jwks: str | None = Field(
        None, description="The issuer's JWKS: a https:// URL or a JSON file."
    )
    jwt_email_claim: str = Field("email", description="The claim naming a person's e-mail.")
    jwt_userinfo: str | None = Field(
        None, description="The issuer's userinfo URL, asked for an e-mail a token lacks."
    )
    auth0_domain: str | None = Field(
        None,
        description="An Auth0 tenant (tenant.eu.auth0.com): issuer, JWKS and userinfo URLs "
        "at once; the RULELOG_JWT_* variables override each.",
    )
    auth0_audience: str | None = Field(
        None, description="The audience when RULELOG_JWT_AUDIENCE is unset."
    )
    console_oidc_client_id: str | None = Field(
        None,
        description="The web console's client id at the OIDC provider: with it, /ui/signin "
        "offers signing in there (authorization code with PKCE) [unset: tokens only].",
    )
    auth0_machine_accounts: str = Field(
        "",
        description='JSON object: machine client id -> the account it acts as ({"id": "user"}).',
    )
    content_signature_products: str = Field(
        "",
        description="Products (comma-separated) whose XML update answers are signed, each by "
        "its RULELOG_AUTOGRAPH_<PRODUCT>_* or RULELOG_SIGNING_<PRODUCT>_* signer.",
    )
    #: The ``RULELOG_AUTOGRAPH[_<PRODUCT>]_*`` / ``RULELOG_SIGNING[_<PRODUCT>]_*`` variables
    #: (families, not fixed names), passwords as ``SecretStr``; ``load_settings`` gathers them.
    signers: dict[str, str | SecretStr] = Field(
        default_factory=dict,
        description="Content signers: the RULELOG_AUTOGRAPH[_<PRODUCT>]_* and "
        "RULELOG_SIGNING[_<PRODUCT>]_* variables.",
    )

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for origin in (o.strip() for o in value.split(",") if o.strip()):
            if origin != "*" and not re.fullmatch(r"https?://[^/\s,]+", origin):
                raise SettingsError(
                    f"{env_name('cors_origins')}: {origin!r} is not * or scheme://host[:port]"
                )
        return value

    @field_validator("auth0_machine_accounts")
    @classmethod
    def _machine_accounts(cls, value: str) -> str:
        read_machine_accounts(value)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_capitals(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.domain_allowlist is not None:
            read_allowlist(self.domain_allowlist)
        self.jwt_urls()
        if self.signers or self.content_signature_products:
            from rulelog.api.content_signature import SigningSettings

            try:
                SigningSettings.from_settings(self)
            except (OSError, ValueError) as error:
                raise SettingsError(str(error)) from None
        return self

    def origins(self) -> tuple[str, ...]:
        """``RULELOG_CORS_ORIGINS`` as Balrog reads ``CORS_ORIGINS``: split on commas."""
        return tuple(o.strip() for o in self.cors_origins.split(",") if o.strip())

    def machine_accounts(self) -> dict[str, str]:
        return read_machine_accounts(self.auth0_machine_accounts)

    def jwt_urls(self) -> tuple[str, str, str, str | None] | None:
        """(issuer, audience, jwks, userinfo) of the OIDC provider; None when not configured.

        ``RULELOG_AUTH0_DOMAIN`` stands for Auth0's issuer, JWKS and userinfo URLs, as
        Balrog's ``AUTH0_DOMAIN``; the explicit ``RULELOG_JWT_*`` variables override it.
        """
        domain = (self.auth0_domain or "").strip().strip("/")
        base = f"https://{domain}/" if domain else ""
        issuer = self.jwt_issuer or base
        if not issuer:
            return None
        jwks = self.jwt_jwks or (f"{base}.well-known/jwks.json" if base else "")
        audience = self.jwt_audience or self.auth0_audience or ""
        missing = [
            env_name(name)
            for name, value in (("jwt_audience", audience), ("jwt_jwks", jwks))
            if not value
        ]
        if missing:
            raise SettingsError(f"OIDC is configured but {', '.join(missing)} is not set")
        return issuer, audience, jwks, self.jwt_userinfo or (f"{base}userinfo" if base else None)

    def signing_env(self) -> dict[str, str]:
        """The content-signing variables as one plain mapping, for ``api.content_signature``."""
        plain = {
            name: value.get_secret_value() if isinstance(value, SecretStr) else value
            for name, value in self.signers.items()
        }
        plain[env_name("content_signature_products")] = self.content_signature_products
        return plain

    def allowlist(self) -> Any:
        """The download hosts blobs may name: the file's, else Mozilla's production list."""
        if self.domain_allowlist is None:
            from rulelog.domain.serving.blobs.common import PRODUCTION_ALLOWLIST

            return PRODUCTION_ALLOWLIST
        return read_allowlist(self.domain_allowlist)


def read_machine_accounts(raw: str) -> dict[str, str]:
    """``RULELOG_AUTH0_MACHINE_ACCOUNTS``: a JSON object of non-empty strings, or empty."""
    name = env_name("auth0_machine_accounts")
    if not raw.strip():
        return {}
    try:
        loaded = json.loads(raw)
    except ValueError as error:
        raise SettingsError(f"{name}: not JSON ({error})") from None
    if not isinstance(loaded, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k and v for k, v in loaded.items()
    ):
        raise SettingsError(f"{name}: must map client ids to account names (JSON object)")
    return loaded


def signer_variables(env: Mapping[str, str]) -> dict[str, SecretStr | str]:
    """The ``RULELOG_AUTOGRAPH*`` / ``RULELOG_SIGNING*`` variables set in ``env``.

    Named per product, they are families rather than fields; an unknown member
    (a typo such as ``RULELOG_AUTOGRAPH_PASSWRD``) is refused rather than ignored.
    """
    found: dict[str, SecretStr | str] = {}
    for name, value in env.items():
        upper = name.upper()
        if not upper.startswith(SIGNER_PREFIXES) or value in (None, ""):
            continue
        if not SIGNER_NAME.fullmatch(upper):
            raise SettingsError(
                f"{name}: unknown signing variable (expected RULELOG_AUTOGRAPH[_<PRODUCT>]_"
                "{URL,KEYID,USERNAME,PASSWORD} or RULELOG_SIGNING[_<PRODUCT>]_{KEY_FILE,X5U})"
            )
        found[upper] = SecretStr(value) if upper.endswith("_PASSWORD") else value
    return found


def env_name(field: str) -> str:
    return PREFIX + field.upper()


def read_allowlist(path: Path) -> dict[str, Any]:
    """``{"host": ["Product", ...], "host2": {"path regex": ["Product"]}}`` from ``path``."""
    name = env_name("domain_allowlist")
    try:
        loaded = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SettingsError(f"{name}: cannot read {path}: {error}") from None
    if not isinstance(loaded, dict) or not all(isinstance(v, list | dict) for v in loaded.values()):
        raise SettingsError(f"{name}: {path} must map hosts to lists of products")
    return {host: tuple(v) if isinstance(v, list) else v for host, v in loaded.items()}


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """The settings from ``env`` (default: the process environment), or one-line ``SettingsError``.

    An explicit ``env`` is read alone (the process environment is not consulted),
    so tests and callers can describe a deployment completely.
    """
    try:
        signers = signer_variables(os.environ if env is None else env)
        if env is None:
            return Settings(signers=signers)
        fields: dict[str, Any] = {
            name: env[env_name(name)]
            for name in Settings.model_fields
            if name not in FAMILIES and env.get(env_name(name)) not in (None, "")
        }
        return Settings.model_validate({**fields, "signers": signers})
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
        if name in FAMILIES:
            continue
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
    for name, value in sorted(settings.signers.items()):
        rows.append(
            {
                "setting": name,
                "value": SECRET if isinstance(value, SecretStr) else value,
                "source": "environment",
                "description": Settings.model_fields["signers"].description,
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
