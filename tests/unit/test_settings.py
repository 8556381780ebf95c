"""Settings: one object, validated at start, every refusal one line naming the variable."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rulelog.api.settings import (
    FAMILIES,
    SECRET,
    Settings,
    SettingsError,
    describe,
    load_settings,
    mask_url,
)

README = Path(__file__).resolve().parents[2] / "README.md"
#: One variable per field; the signer families are documented as pattern rows instead.
VARIABLES = {f"RULELOG_{name.upper()}" for name in Settings.model_fields if name not in FAMILIES}


def test_defaults_need_no_environment() -> None:
    settings = load_settings({})
    assert settings.database_url == "sqlite:///rulelog.db"
    assert settings.poll_interval == 0.2 and settings.checkpoint_every == 1000
    assert settings.fingerprint_policy == "refuse" and settings.log_format == "auto"
    assert settings.domain_allowlist is None
    assert "download.mozilla.org" in settings.allowlist()  # Mozilla's hosts when unset


def test_values_are_read_and_typed() -> None:
    settings = load_settings(
        {
            "RULELOG_POLL_INTERVAL": "0.5",
            "RULELOG_CHECKPOINT_EVERY": "7",
            "RULELOG_LOG_LEVEL": "debug",
            "RULELOG_LOG_FORMAT": "mozlog",
            "UNRELATED": "x",
        }
    )
    assert (settings.poll_interval, settings.checkpoint_every) == (0.5, 7)
    assert (settings.log_level, settings.log_format) == ("DEBUG", "mozlog")


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"RULELOG_POLL_INTERVAL": "soon"}, "RULELOG_POLL_INTERVAL"),
        ({"RULELOG_POLL_INTERVAL": "0"}, "RULELOG_POLL_INTERVAL"),
        ({"RULELOG_SWITCH_INTERVAL": "0"}, "RULELOG_SWITCH_INTERVAL"),
        ({"RULELOG_SWITCH_INTERVAL": "1"}, "RULELOG_SWITCH_INTERVAL"),
        ({"RULELOG_CHECKPOINT_EVERY": "0"}, "RULELOG_CHECKPOINT_EVERY"),
        ({"RULELOG_LOG_FORMAT": "loud"}, "RULELOG_LOG_FORMAT"),
        ({"RULELOG_LOG_LEVEL": "LOUD"}, "RULELOG_LOG_LEVEL"),
        ({"RULELOG_FINGERPRINT_POLICY": "maybe"}, "RULELOG_FINGERPRINT_POLICY"),
        ({"RULELOG_AGENT_BACKOFF_MAX": "-1"}, "RULELOG_AGENT_BACKOFF_MAX"),
        ({"RULELOG_DOMAIN_ALLOWLIST": "/nonexistent/hosts.json"}, "RULELOG_DOMAIN_ALLOWLIST"),
        ({"RULELOG_MAX_BODY_BYTES": "0"}, "RULELOG_MAX_BODY_BYTES"),
        ({"RULELOG_MAX_BODY_BYTES": "20M"}, "RULELOG_MAX_BODY_BYTES"),
        ({"RULELOG_CORS_ORIGINS": "https://a.example, ui.example"}, "RULELOG_CORS_ORIGINS"),
        ({"RULELOG_AUTH0_MACHINE_ACCOUNTS": "{not json"}, "RULELOG_AUTH0_MACHINE_ACCOUNTS"),
        ({"RULELOG_AUTH0_MACHINE_ACCOUNTS": '{"id": 1}'}, "RULELOG_AUTH0_MACHINE_ACCOUNTS"),
        ({"RULELOG_AUTH0_MACHINE_ACCOUNTS": '["id"]'}, "RULELOG_AUTH0_MACHINE_ACCOUNTS"),
        ({"RULELOG_JWT_ISSUER": "https://idp.example/"}, "RULELOG_JWT_AUDIENCE"),
        (
            {"RULELOG_JWT_ISSUER": "https://idp.example/", "RULELOG_JWT_AUDIENCE": "a"},
            "RULELOG_JWT_JWKS",
        ),
        ({"RULELOG_AUTH0_DOMAIN": "tenant.eu.auth0.com"}, "RULELOG_JWT_AUDIENCE"),
        ({"RULELOG_AUTOGRAPH_URL": "autograph:8000"}, "RULELOG_AUTOGRAPH_URL"),
        (
            {
                "RULELOG_CONTENT_SIGNATURE_PRODUCTS": "GMP",
                "RULELOG_AUTOGRAPH_GMP_URL": "ftp://autograph",
            },
            "RULELOG_AUTOGRAPH_GMP_URL",
        ),
        ({"RULELOG_AUTOGRAPH_PASSWRD": "p"}, "RULELOG_AUTOGRAPH_PASSWRD"),
        ({"RULELOG_AUTOGRAPH_GMP_URL": "https://autograph"}, "RULELOG_CONTENT_SIGNATURE_PRODUCTS"),
        ({"RULELOG_SIGNING_KEY_FILE": "/nonexistent/key.pem"}, "RULELOG_SIGNING_X5U"),
        (
            {
                "RULELOG_SIGNING_KEY_FILE": "/nonexistent/key.pem",
                "RULELOG_SIGNING_X5U": "https://x5u.example/chain.pem",
            },
            "RULELOG_SIGNING_KEY_FILE",
        ),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert fragment in caught.value.message
    assert "\n" not in caught.value.message


def test_allowlist_file_is_validated_and_used(tmp_path: Path) -> None:
    path = tmp_path / "hosts.json"
    path.write_text(json.dumps({"dl.example.org": ["Firefox"]}))
    settings = load_settings({"RULELOG_DOMAIN_ALLOWLIST": str(path)})
    assert settings.allowlist() == {"dl.example.org": ("Firefox",)}
    path.write_text(json.dumps(["not", "a", "map"]))
    with pytest.raises(SettingsError, match="must map hosts"):
        load_settings({"RULELOG_DOMAIN_ALLOWLIST": str(path)})


def test_describe_masks_secrets_and_names_sources() -> None:
    settings = load_settings(
        {
            "RULELOG_SENTRY_DSN": "https://key@sentry.example/1",
            "RULELOG_DATABASE_URL": "postgresql+psycopg://rl:hunter2@db/rulelog",
        }
    )
    rows = {row["setting"]: row for row in describe(settings)}
    assert rows["RULELOG_SENTRY_DSN"]["value"] == SECRET
    assert "hunter2" not in rows["RULELOG_DATABASE_URL"]["value"]
    assert rows["RULELOG_DATABASE_URL"]["source"] == "environment"
    assert rows["RULELOG_POLL_INTERVAL"]["source"] == "default"
    assert set(rows) == VARIABLES


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("sqlite:///rulelog.db", "sqlite:///rulelog.db"),
        ("postgresql://u:p@h/db", f"postgresql://u:{SECRET}@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_access_and_signing_settings_are_read_and_masked(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_bytes(b"not parsed until a signature is asked for")
    settings = load_settings(
        {
            "RULELOG_MAX_BODY_BYTES": "4096",
            "RULELOG_CORS_ORIGINS": " https://a.example , *,",
            "RULELOG_AUTH0_DOMAIN": "tenant.eu.auth0.com",
            "RULELOG_AUTH0_AUDIENCE": "balrog",
            "RULELOG_AUTH0_MACHINE_ACCOUNTS": '{"GaX7client": "balrog-ffxbld"}',
            "RULELOG_AUTOGRAPH_URL": "https://autograph.example",
            "RULELOG_AUTOGRAPH_PASSWORD": "hunter2",
            "RULELOG_CONTENT_SIGNATURE_PRODUCTS": "GMP",
            "rulelog_signing_gmp_key_file": str(key),
            "RULELOG_SIGNING_GMP_X5U": "https://x5u.example/chain.pem",
        }
    )
    assert settings.max_body_bytes == 4096
    assert settings.origins() == ("https://a.example", "*")
    assert settings.machine_accounts() == {"GaX7client": "balrog-ffxbld"}
    assert settings.jwt_urls() == (
        "https://tenant.eu.auth0.com/",
        "balrog",
        "https://tenant.eu.auth0.com/.well-known/jwks.json",
        "https://tenant.eu.auth0.com/userinfo",
    )
    assert settings.signing_env()["RULELOG_AUTOGRAPH_PASSWORD"] == "hunter2"
    rows = {row["setting"]: row for row in describe(settings)}
    assert rows["RULELOG_AUTOGRAPH_PASSWORD"]["value"] == SECRET
    assert rows["RULELOG_AUTOGRAPH_URL"]["value"] == "https://autograph.example"
    assert rows["RULELOG_SIGNING_GMP_KEY_FILE"]["value"] == str(key)
    assert "hunter2" not in repr(settings)


def test_every_setting_is_in_the_readme_table_with_its_default() -> None:
    """The README's Settings table and the Settings class list the same variables."""
    text = README.read_text()
    table = re.findall(r"^\| `(RULELOG_[A-Z0-9_]+)` \| ([^|]*) \|", text, re.M)
    documented = dict(table)
    assert set(documented) == VARIABLES
    for family in ("RULELOG_AUTOGRAPH[_<PRODUCT>]_", "RULELOG_SIGNING[_<PRODUCT>]_"):
        assert f"| `{family}" in text, family  # the per-product families: pattern rows
    for name, field in Settings.model_fields.items():
        if name in FAMILIES:
            continue
        if field.default not in (None, ""):
            assert str(field.default) in documented[f"RULELOG_{name.upper()}"], name
