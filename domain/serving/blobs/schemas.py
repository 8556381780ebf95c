"""The JSON schema of each blob type: which file, loaded and compiled once.

Balrog picks a blob's schema by its ``schema_version``. The files in
``schemas/*.json`` are read through importlib.resources (so an installed
package finds them) and compiled once per process, because bulk imports
validate thousands of blobs: a fast yes/no check (``schema_compiler``) and
jsonschema's validator, which words the errors of the blobs the fast path
refuses.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType
from typing import Any

from jsonschema import Draft202012Validator

from rulelog.domain.serving.blobs.formats import FORMAT_CHECKER
from rulelog.domain.serving.blobs.problems import invalid, short
from rulelog.domain.serving.blobs.schema_compiler import Check, SchemaCompiler

#: Schema file for each ``schema_version`` Balrog accepts (``auslib.blobs.base.createBlob``).
#: ``apprelease-v7.json`` ships too, because Balrog has that schema, but Balrog has
#: no blob class for version 7 and refuses it as unknown, so it is not listed here.
SCHEMA_FILES: Mapping[int, str] = MappingProxyType(
    {
        1: "apprelease-v1.json",
        2: "apprelease-v2.json",
        3: "apprelease-v3.json",
        4: "apprelease-v4.json",
        5: "apprelease-v5.json",
        6: "apprelease-v6.json",
        8: "apprelease-v8.json",
        9: "apprelease-v9.json",
        50: "desupport.json",
        1000: "gmp.json",
        4000: "superblob.json",
        5000: "systemaddons.json",
        10000: "guardian.json",
    }
)

#: The schema_versions of app release blobs (the ``platforms``/``locales`` shape).
APP_RELEASE_VERSIONS = frozenset({1, 2, 3, 4, 5, 6, 8, 9})


def schema_for(schema_version: int) -> dict[str, Any]:
    """Return (a copy of) the JSON schema blobs of ``schema_version`` must match.

    A copy, because the cached original backs the compiled validator and must
    never change under it. Raises ``KeyError`` for versions Balrog does not know.
    """
    return copy.deepcopy(_load_schema(_schema_file(schema_version)))


def _schema_file(schema_version: object) -> str:
    """Map a schema_version to its file the way Balrog's dict lookup does.

    Balrog looks the value up in a dict, so ``9.0`` finds version 9; booleans are
    refused here (``True == 1`` would find version 1, whose schema then rejects it).
    """
    if isinstance(schema_version, bool) or not isinstance(schema_version, (int, float)):
        raise KeyError(schema_version)
    return SCHEMA_FILES[schema_version]


@functools.cache
def _load_schema(filename: str) -> dict[str, Any]:
    """Read a shipped schema file; via importlib.resources so it works when installed."""
    package = __package__ or "rulelog.domain.serving.blobs"
    text = resources.files(package).joinpath("schemas", filename)
    return json.loads(text.read_text(encoding="utf-8"))


@functools.cache
def validator(schema_version: int) -> Draft202012Validator:
    """Build jsonschema's validator for one schema_version, once per process.

    It words the errors of blobs the fast path refuses; ``check_schema`` makes a
    broken schema file fail loudly the first time it is used.
    """
    schema = _load_schema(_schema_file(schema_version))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FORMAT_CHECKER)


@functools.cache
def fast_check(schema_version: int) -> Check:
    """Compile the yes/no fast path for one schema_version, once per process."""
    return SchemaCompiler(_load_schema(_schema_file(schema_version))).compile()


def schema_version_of(blob: dict[str, Any]) -> int:
    """Return the blob's schema_version as an int key, or raise Balrog's refusal."""
    raw = blob.get("schema_version")
    if not raw:
        raise invalid(("schema_version",), "is not set")
    try:
        _schema_file(raw)
    except (KeyError, TypeError):
        known = ", ".join(str(v) for v in SCHEMA_FILES)
        raise invalid(
            ("schema_version",), f"unknown schema_version {short(raw)} (known: {known})"
        ) from None
    return int(raw)
