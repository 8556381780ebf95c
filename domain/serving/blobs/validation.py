"""Release blob validation: accept exactly the blobs Balrog accepts.

Balrog stores each release as a JSON "blob" whose shape is chosen by its
``schema_version``. Before a release is created or changed, Balrog checks the
blob against the JSON schema for that version and then runs a few checks a
schema cannot express (``auslib/blobs/*.py`` ``validate()``). rulelog must
refuse the same blobs, or an imported history would contain releases Balrog
could never have stored, so this module mirrors both layers:

* the schemas in ``schemas/*.json`` (one per blob type, loaded and compiled
  once per process because bulk imports validate thousands of blobs);
* the extra checks: the domain allowlist for download URLs (only when the
  caller passes an allowlist), the hash length of GMP plugin files, and the
  rule that no two ``updateLine`` groups of a v9 blob may set the same field
  for requests that could match both;
* the rule, enforced by Balrog's release table on create and update, that the
  blob's ``name`` equals the release name.

Every failure is one :class:`~domain.errors.Invalid` whose message is a single
line starting with the dotted path of the offending part of the blob, so the
API and CLI can show it as is.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import numbers
import operator
import re
import reprlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any
from urllib.parse import urlparse

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match, relevance

from rulelog.domain.errors import Invalid

__all__ = ["SCHEMA_FILES", "schema_for", "validate_blob"]

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

_APP_RELEASE_VERSIONS = frozenset({1, 2, 3, 4, 5, 6, 8, 9})
_HASH_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}

_Path = tuple[str | int, ...]
_Check = Callable[[object], bool]

#: Allowlist shape, as in Balrog's ``ALLOWLISTED_DOMAINS``: domain -> products that may
#: download from it, or domain -> {path regex -> products} for per-path rules.
DomainAllowlist = Mapping[str, Any]


# --------------------------------------------------------------------------- public API


def schema_for(schema_version: int) -> dict[str, Any]:
    """Return (a copy of) the JSON schema blobs of ``schema_version`` must match.

    A copy, because the cached original backs the compiled validator and must
    never change under it. Raises ``KeyError`` for versions Balrog does not know.
    """
    return copy.deepcopy(_load_schema(_schema_file(schema_version)))


def validate_blob(
    blob: object,
    *,
    name: str | None = None,
    product: str | None = None,
    allowlisted_domains: DomainAllowlist | None = None,
) -> None:
    """Raise :class:`Invalid` unless Balrog would store ``blob`` as a release.

    ``name`` is the release name the blob is being stored under; when given it
    must equal the blob's own ``name`` (Balrog checks this on every create and
    update, after the schema, so a blob without ``name`` fails the schema
    first). ``allowlisted_domains`` turns on Balrog's download-domain check for
    ``product`` (the release's product); without it the check is skipped,
    because it depends on deployment configuration rather than on the blob.
    Returns ``None`` when the blob is acceptable.
    """
    if not isinstance(blob, dict):
        raise _invalid((), f"must be a JSON object, not {_json_type(blob)}")
    schema_version = _schema_version_of(blob)

    if not _fast_check(schema_version)(blob):
        errors = list(_validator(schema_version).iter_errors(blob))
        if errors:
            raise _schema_error(errors)

    if allowlisted_domains is not None:
        _check_domains(blob, schema_version, product, allowlisted_domains)
    if schema_version == 1000:
        _check_gmp_hash_lengths(blob)
    elif schema_version == 9:
        _check_update_line(blob.get("updateLine", []))

    if name is not None and blob["name"] != name:
        raise Invalid(
            f"name: {name!r} does not match blob.name {blob['name']!r}",
            field="name",
            path="name",
        )


# --------------------------------------------------------------------------- schemas


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
def _validator(schema_version: int) -> Draft202012Validator:
    """Build jsonschema's validator for one schema_version, once per process.

    It words the errors of blobs the fast path refuses; ``check_schema`` makes a
    broken schema file fail loudly the first time it is used.
    """
    schema = _load_schema(_schema_file(schema_version))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=_FORMAT_CHECKER)


@functools.cache
def _fast_check(schema_version: int) -> _Check:
    """Compile the yes/no fast path for one schema_version, once per process."""
    return _SchemaCompiler(_load_schema(_schema_file(schema_version))).compile()


def _schema_version_of(blob: dict[str, Any]) -> int:
    """Return the blob's schema_version as an int key, or raise Balrog's refusal."""
    raw = blob.get("schema_version")
    if not raw:
        raise _invalid(("schema_version",), "is not set")
    try:
        _schema_file(raw)
    except (KeyError, TypeError):
        known = ", ".join(str(v) for v in SCHEMA_FILES)
        raise _invalid(
            ("schema_version",), f"unknown schema_version {_short(raw)} (known: {known})"
        ) from None
    return int(raw)


# --------------------------------------------------------------------------- fast path
# jsonschema spends most of its time building per-node validator objects: about
# 0.6 ms for an average fixture blob, far more for a full Firefox release. Valid
# blobs, nearly all of a bulk import, only need a yes/no answer, so each schema is
# also compiled into plain closures over the keywords our schema files use, with
# the Draft 2020-12 meaning jsonschema gives them (booleans are not numbers, const
# True is not 1, ...). Only when that says "no" does jsonschema run, to find and
# word the error; it stays the authority. A keyword the compiler does not know
# fails at compile time rather than being silently ignored.

_TYPE_CHECKS: dict[str, _Check] = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "number": lambda value: isinstance(value, numbers.Number) and not isinstance(value, bool),
}
_ANNOTATIONS = frozenset({"$schema", "$defs", "title", "description", "$comment", "x-message"})
_KEYWORDS = frozenset(
    {
        "$ref",
        "type",
        "const",
        "enum",
        "pattern",
        "minLength",
        "maxLength",
        "format",
        "required",
        "properties",
        "patternProperties",
        "additionalProperties",
        "items",
        "if",
        "then",
        "else",
        "oneOf",
    }
)


def _json_equal(value: object, expected: object) -> bool:
    """JSON Schema equality for scalar ``const``/``enum`` values: ``True`` is not ``1``."""
    if isinstance(value, bool) or isinstance(expected, bool):
        return value is expected
    return value == expected


def _all_of(checks: list[_Check]) -> _Check:
    if len(checks) == 1:
        return checks[0]

    def check(value: object) -> bool:
        return all(one(value) for one in checks)

    return check


def _object_check(
    required: list[str],
    properties: dict[str, _Check],
    patterns: list[tuple[re.Pattern[str], _Check]],
    closed: bool,
) -> _Check:
    def check(value: object) -> bool:
        if not isinstance(value, dict):
            return True
        for key in required:
            if key not in value:
                return False
        for key, item in value.items():
            known = properties.get(key)
            matched = known is not None
            if known is not None and not known(item):
                return False
            for regex, sub in patterns:
                if regex.search(key):
                    matched = True
                    if not sub(item):
                        return False
            if closed and not matched:
                return False
        return True

    return check


class _SchemaCompiler:
    """Turns one schema document into a single ``value -> bool`` closure."""

    def __init__(self, root: dict[str, Any]) -> None:
        self._root = root
        self._defs: dict[str, Any] = root.get("$defs", {})
        self._refs: dict[str, _Check] = {}

    def compile(self) -> _Check:
        return self._compile(self._root)

    def _ref(self, ref: str) -> _Check:
        if not ref.startswith("#/$defs/"):
            raise ValueError(f"unsupported $ref {ref!r}")
        name = ref.removeprefix("#/$defs/")
        if name not in self._refs:
            self._refs[name] = lambda value: self._refs[name](value)  # for recursive defs
            self._refs[name] = self._compile(self._defs[name])
        return self._refs[name]

    def _compile(self, schema: dict[str, Any]) -> _Check:
        unknown = set(schema) - _KEYWORDS - _ANNOTATIONS
        if unknown:
            raise ValueError(f"fast path does not implement {sorted(unknown)}")
        checks: list[_Check] = []
        if "$ref" in schema:
            checks.append(self._ref(schema["$ref"]))
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            preds = [_TYPE_CHECKS[n] for n in names]
            checks.append(preds[0] if len(preds) == 1 else lambda v: any(p(v) for p in preds))
        if "const" in schema:
            checks.append(lambda v, c=schema["const"]: _json_equal(v, c))
        if "enum" in schema:
            checks.append(lambda v, cs=schema["enum"]: any(_json_equal(v, c) for c in cs))
        if "pattern" in schema:
            regex = re.compile(schema["pattern"])
            checks.append(lambda v: not isinstance(v, str) or regex.search(v) is not None)
        if "minLength" in schema or "maxLength" in schema:
            low, high = schema.get("minLength", 0), schema.get("maxLength", float("inf"))
            checks.append(lambda v: not isinstance(v, str) or low <= len(v) <= high)
        if "format" in schema:
            checks.append(lambda v, f=schema["format"]: _FORMAT_CHECKER.conforms(v, f))
        extra = schema.get("additionalProperties", True)
        if extra is not True and extra is not False:
            raise ValueError("fast path only implements additionalProperties true/false")
        if {"required", "properties", "patternProperties"} & set(schema) or extra is False:
            checks.append(
                _object_check(
                    list(schema.get("required", ())),
                    {k: self._compile(s) for k, s in schema.get("properties", {}).items()},
                    [
                        (re.compile(p), self._compile(s))
                        for p, s in schema.get("patternProperties", {}).items()
                    ],
                    extra is False,
                )
            )
        if "items" in schema:
            item = self._compile(schema["items"])
            checks.append(lambda v: not isinstance(v, list) or all(item(i) for i in v))
        if "if" in schema:
            test = self._compile(schema["if"])
            then = self._compile(schema.get("then", {}))
            other = self._compile(schema.get("else", {}))
            checks.append(lambda v: then(v) if test(v) else other(v))
        if "oneOf" in schema:
            branches = [self._compile(s) for s in schema["oneOf"]]
            checks.append(lambda v: sum(1 for b in branches if b(v)) == 1)
        return _all_of(checks) if checks else (lambda v: True)


# --------------------------------------------------------------------------- formats
# Balrog registers these two formats on its Draft 4 format checker
# (auslib/util/jsonschema_validators.py); only apprelease v9 uses them. "uri" also
# appears in Balrog's schemas but is never enforced there (its checker needs an
# optional package Balrog does not install), so rulelog does not check it either.


class _FormatProblem(ValueError):
    """Why a string does not have the format its schema names."""


_FORMAT_CHECKER = FormatChecker(formats=())


@_FORMAT_CHECKER.checks("version", raises=_FormatProblem)
def _is_version_expression(value: object) -> bool:
    """A version, ``<``/``>``/``<=``/``>=`` + version, ``X.*`` glob, or list of exact versions."""
    if not isinstance(value, str) or value == "":
        return True
    parts = value.split(",")
    for part in parts:
        parsed = _get_op(part)
        if parsed is None:
            raise _FormatProblem(f"no version or comparison found in {part!r}")
        op, operand = parsed
        if len(parts) > 1 and op != "==":
            raise _FormatProblem("a list of versions may only hold exact versions")
        try:
            _parse_version(operand)
        except _VersionError:
            raise _FormatProblem(f"{operand!r} is not a Mozilla version") from None
    return True


@_FORMAT_CHECKER.checks("buildID", raises=_FormatProblem)
def _is_build_id_expression(value: object) -> bool:
    """A buildID number, optionally preceded by a comparison operator."""
    if not isinstance(value, str) or value == "":
        return True
    if _get_op(value) is None:
        raise _FormatProblem(f"no buildID or comparison found in {value!r}")
    try:
        int(value.lstrip("<>="))
    except ValueError:
        raise _FormatProblem("the buildID must be an integer") from None
    return True


# --------------------------------------------------------------------------- messages

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 32
_REPR.maxlist = _REPR.maxdict = 3
_REPR.maxlevel = 2


def _short(value: object) -> str:
    """A bounded repr, so one bad value can never turn a message into a page."""
    return _REPR.repr(value)


def _json_type(value: object) -> str:
    """JSON's name for a Python value's type, for messages about the top level."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    if type(value) in names:
        return names[type(value)]
    return "number" if isinstance(value, (int, float)) else type(value).__name__


def _path_text(path: Iterable[str | int]) -> str:
    """Dotted path; odd keys (empty, newlines, ...) are quoted so the message stays one line."""
    return ".".join(_path_part(part) for part in path)


def _path_part(part: str | int) -> str:
    if isinstance(part, str) and not (part and part.isprintable()):
        return repr(part)
    return str(part)


def _invalid(path: _Path, message: str) -> Invalid:
    """Build the one-line ``blob: <path>: <problem>`` error used for every blob failure."""
    where = _path_text(path)
    text = f"blob: {where}: {message}" if where else f"blob: {message}"
    return Invalid(text, field="blob", path=where)


def _schema_error(errors: list[ValidationError]) -> Invalid:
    """Turn jsonschema's errors into one Invalid naming the most useful one."""
    top = max(errors, key=relevance)
    if not (top.validator == "oneOf" and "x-message" in top.schema):
        top = best_match([top])
    message = _describe(top)
    if len(errors) > 1:
        others = len(errors) - 1
        message += f" (and {others} more problem{'s' if others > 1 else ''})"
    return _invalid(tuple(top.absolute_path), message)


def _describe(error: ValidationError) -> str:
    """Phrase one schema violation without dumping the (possibly huge) instance."""
    keyword, expected, value = error.validator, error.validator_value, error.instance
    if keyword == "type":
        types = expected if isinstance(expected, list) else [expected]
        return f"{_short(value)} is not of type {' or '.join(repr(t) for t in types)}"
    if keyword == "oneOf" and "x-message" in error.schema:
        return str(error.schema["x-message"])
    if keyword == "const":
        return f"must be {expected!r}, not {_short(value)}"
    if keyword == "enum":
        return f"{_short(value)} is not one of {expected!r}"
    if keyword == "pattern":
        return f"{_short(value)} does not match {expected!r}"
    if keyword in ("minLength", "maxLength"):
        bound = "at least" if keyword == "minLength" else "at most"
        return f"{_short(value)} must be {bound} {expected} characters long"
    if keyword == "additionalProperties" and isinstance(value, dict):
        extras = sorted(_extra_properties(value, error.schema), key=str)
        shown = ", ".join(repr(k) for k in extras[:5]) + (", ..." if len(extras) > 5 else "")
        noun = "property" if len(extras) == 1 else "properties"
        return f"unexpected {noun} {shown}"
    if keyword == "format":
        reason = f": {error.cause}" if error.cause else ""
        return f"{_short(value)} is not a valid {expected}{reason}"
    message = error.message
    return message if len(message) <= 200 else message[:197] + "..."


def _extra_properties(instance: dict[str, Any], schema: Mapping[str, Any]) -> Iterator[str]:
    """Keys neither ``properties`` nor ``patternProperties`` cover (same rule as jsonschema)."""
    named = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    for key in instance:
        if key not in named and not any(re.search(p, key) for p in patterns):
            yield key


# --------------------------------------------------------------------------- domains
# The two checks below walk places the schemas leave open (extra keys of an alias
# platform, a GMP vendor or platform named ""), where Balrog's own loops fail on
# data of an unexpected type and so refuse the blob. They follow Balrog's loops
# step by step and turn such a failure into an Invalid naming the spot.

_MALFORMED = (AttributeError, KeyError, TypeError)


#: Balrog's words for a blob naming a download host its product may not use.
FORBIDDEN_DOMAIN = "Blob contains forbidden domain(s)"


def check_download_domains(
    blob: dict[str, Any], product: str | None, allowlist: DomainAllowlist
) -> None:
    """Raise Invalid (``reason="forbidden_domain"``) if ``blob`` names a download URL on
    a host ``allowlist`` does not grant ``product``; the blob must be schema-valid."""
    try:
        _check_domains(blob, _schema_version_of(blob), product, allowlist)
    except Invalid as error:
        raise Invalid(
            f"{FORBIDDEN_DOMAIN}: {error}", field="blob", reason="forbidden_domain"
        ) from None


def _check_domains(
    blob: dict[str, Any], schema_version: int, product: str | None, allowlist: DomainAllowlist
) -> None:
    """Refuse download URLs on hosts the allowlist does not grant ``product``.

    Mirrors the ``containsForbiddenDomain`` methods: desupport and superblobs
    carry no download URLs; the desupport ``detailsUrl`` is exempt on purpose.
    """
    where: list[_Path] = [()]
    try:
        for path, url in _download_urls(blob, schema_version, where):
            problem = _url_problem(url, product, allowlist)
            if problem:
                raise _invalid(path, problem)
    except _MALFORMED:
        raise _invalid(where[0], "malformed data where download URLs may be") from None


def _download_urls(
    blob: dict[str, Any], schema_version: int, where: list[_Path]
) -> Iterator[tuple[_Path, object]]:
    """Yield (path, url) for every URL a client would download from.

    ``where[0]`` tracks the part being read, for the message if it is malformed.
    """
    if schema_version in _APP_RELEASE_VERSIONS:
        for channel, urls in blob.get("fileUrls", {}).items():
            if isinstance(urls, dict):  # v4+: {partials|completes: {from: url}}
                for kind, by_from in urls.items():
                    for from_, url in by_from.items():
                        yield ("fileUrls", channel, kind, from_), url
            else:  # v1-v3: one URL template per channel
                yield ("fileUrls", channel), urls
        for platform, pdata in blob.get("platforms", {}).items():
            where[0] = ("platforms", platform, "locales")
            for locale, ldata in pdata.get("locales", {}).items():
                base = ("platforms", platform, "locales", locale)
                where[0] = base
                for kind in ("partial", "complete"):
                    if kind in ldata and "fileUrl" in ldata[kind]:
                        yield (*base, kind, "fileUrl"), ldata[kind]["fileUrl"]
                for kind in ("partials", "completes"):
                    where[0] = (*base, kind)
                    for i, patch in enumerate(ldata.get(kind, {})):
                        if "fileUrl" in patch:
                            yield (*base, kind, i, "fileUrl"), patch["fileUrl"]
    elif schema_version in (1000, 5000):
        group = "vendors" if schema_version == 1000 else "addons"
        for key, entry in blob.get(group, {}).items():
            where[0] = (group, key)
            for platform, pdata in entry.get("platforms", {}).items():
                base = (group, key, "platforms", platform)
                where[0] = base
                if "fileUrl" in pdata:
                    yield (*base, "fileUrl"), pdata["fileUrl"]
                if schema_version == 1000 and "mirrorUrls" in pdata:
                    for i, url in enumerate(pdata["mirrorUrls"]):
                        yield (*base, "mirrorUrls", i), url
    elif schema_version == 10000:
        for platform, pdata in blob["platforms"].items():
            yield ("platforms", platform, "fileUrl"), pdata["fileUrl"]


def _url_problem(url: object, product: str | None, allowlist: DomainAllowlist) -> str | None:
    """Why ``url`` may not be served for ``product`` (Balrog's ``isForbiddenUrl``), or None."""
    if not isinstance(url, str):
        return f"{_short(url)} is not a URL"
    try:
        parsed = urlparse(url)
    except ValueError:
        return f"{_short(url)} is not a valid URL"
    domain = parsed.netloc
    if domain not in allowlist:
        return f"domain {domain!r} is not allowlisted"
    rule = allowlist[domain]
    if isinstance(rule, Mapping):
        for path_regex, products in rule.items():
            if re.fullmatch(path_regex, parsed.path):
                if product in products:
                    return None
                return f"{domain}{parsed.path} is not allowlisted for product {product!r}"
        return f"path {parsed.path!r} on {domain!r} is not allowlisted"
    if isinstance(rule, (str, bytes)) or not hasattr(rule, "__contains__"):
        return f"malformed allowlist entry for domain {domain!r}"
    if product in rule:
        return None
    return f"domain {domain!r} is not allowlisted for product {product!r}"


# --------------------------------------------------------------------------- GMP hashes


def _check_gmp_hash_lengths(blob: dict[str, Any]) -> None:
    """GMP plugin hashes must have the length of the blob's hashFunction (GMPBlobV1.validate)."""
    where: _Path = ("vendors",)
    try:
        for vendor, vdata in blob["vendors"].items():
            where = ("vendors", vendor)
            for platform, pdata in vdata.get("platforms", {}).items():
                where = ("vendors", vendor, "platforms", platform)
                if "hashValue" not in pdata:
                    continue
                hash_function = blob["hashFunction"]
                required = _HASH_LENGTHS.get(hash_function.lower())
                if required is None:
                    raise _invalid(
                        ("hashFunction",),
                        f"unsupported hash function {hash_function!r} "
                        "(expected sha256, sha384 or sha512)",
                    )
                where = (*where, "hashValue")
                actual = len(pdata["hashValue"])
                if actual != required:
                    raise _invalid(
                        where,
                        f"must be {required} characters long for {hash_function.lower()}, "
                        f"not {actual}",
                    )
    except _MALFORMED:
        raise _invalid(where, "malformed data where a hashValue may be") from None


# --------------------------------------------------------------------------- updateLine
# Balrog's ReleaseBlobV9.validate simulates rule matching to prove that no request
# can match two updateLine groups that set the same field. That needs Balrog's exact
# notion of version, buildID and channel matching (auslib.util.versions, .comparison
# and .rulematching), reimplemented below with the same results, quirks included:
# e.g. two different plain versions in overlapping groups cannot be compared and
# make Balrog refuse the blob.


class _VersionError(ValueError):
    """A string Balrog's ``MozillaVersion()`` cannot use."""


class _Incomparable(Exception):
    """Balrog cannot decide whether two updateLine conditions overlap, so it refuses."""

    def __init__(self, left: str, right: str) -> None:
        super().__init__(left, right)
        self.left, self.right = left, right


@dataclass(frozen=True, slots=True)
class _Version:
    """A parsed Mozilla version; ``glob`` holds the text of an ``X.*`` / ``X.Y.*`` pattern."""

    parts: tuple[int, ...]
    prerelease: tuple[str, int] | None = None
    glob: str | None = None

    def __str__(self) -> str:
        if self.glob is not None:
            return self.glob
        shown = self.parts[:2] if self.parts[2] == 0 else self.parts
        text = ".".join(map(str, shown))
        if self.prerelease:
            text += f"{self.prerelease[0]}{self.prerelease[1]}"
        return text


# Firefox >= 5 ("post-modern"): only "a" pre-releases; older: any letters (only the
# first letter counts); "ancient" four-part versions w.x.D.z keep w, x and z.
_POSTMODERN = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:(a)(\d+))?$")
_MODERN = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:([a-zA-Z])[a-zA-Z]*(\d+))?$")
_ANCIENT = re.compile(r"^(\d+)\.(\d+)\.\d\.(\d+)(?:([a-zA-Z])[a-zA-Z]*(\d+))?$")
_GLOB = re.compile(r"^(\d+)\.(\d+\.\*|\*)$")


def _parse_version(text: str) -> _Version:
    """Parse like Balrog's ``MozillaVersion``; raise _VersionError where it fails."""
    try:
        if text.count(".") in (1, 2):
            if int(text.split(".")[0]) > 4:
                if text.endswith(".*"):
                    if not _GLOB.match(text):
                        raise ValueError(text)
                    parts = tuple(int(p) for p in text.split(".") if p != "*")
                    return _Version(parts, None, text)
                pattern = _POSTMODERN
            else:
                pattern = _MODERN
        else:
            pattern = _ANCIENT
        match = pattern.match(text)
        if not match:
            raise ValueError(text)
        major, minor, patch, tag, tag_number = match.groups()
        parts = (int(major), int(minor), int(patch) if patch else 0)
        return _Version(parts, (tag, int(tag_number)) if tag else None)
    except ValueError:
        raise _VersionError(text) from None


def _parts_equal(a: _Version, b: _Version) -> bool:
    """Balrog's tuple equality: a glob's parts equal anything they are a prefix of."""
    if a.glob is not None:
        return b.parts[: len(a.parts)] == a.parts
    if b.glob is not None:
        return a.parts[: len(b.parts)] == b.parts
    return a.parts == b.parts


def _version_cmp(a: _Version, b: _Version) -> int:
    """-1/0/1 like StrictVersion._cmp: numbers first, then a pre-release sorts lower."""
    if not _parts_equal(a, b):
        return -1 if a.parts < b.parts else 1
    pa, pb = a.prerelease, b.prerelease
    if not pa and not pb:
        return 0
    if pa and not pb:
        return -1
    if pb and not pa:
        return 1
    return 0 if pa == pb else (-1 if pa < pb else 1)


def _version_eq(a: _Version, b: _Version) -> bool:
    """``a == b`` in Balrog: a glob on the left matches by string prefix."""
    if a.glob is not None:
        return str(b).startswith(a.glob.rstrip("*"))
    return _version_cmp(a, b) == 0


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<": operator.lt,
    "<=": operator.le,
}


def _get_op(pattern: str) -> tuple[str, str] | None:
    """Split a match string into (operator, operand) like Balrog's ``get_op``.

    ``"glob"`` is a trailing ``*``, ``"=="`` anything starting with a word
    character; otherwise the relational operators are tried in Balrog's order.
    """
    if pattern.endswith("*"):
        return "glob", pattern
    if re.match(r"\w", pattern):
        return "==", pattern
    for symbol in _ORDER:
        match = re.match(rf"({symbol})([.\w]+)", pattern)
        if match:
            return symbol, match.group(2)
    return None


def _version_matches(rule: str, query: str) -> bool:
    """Balrog's ``matchVersion``: does version ``query`` satisfy any part of ``rule``?"""
    for part in rule.split(","):
        parsed = _get_op(part)
        if parsed is None:
            raise _Incomparable(rule, query)
        op, operand = parsed
        try:
            value, bound = _parse_version(query), _parse_version(operand)
        except _VersionError:
            raise _Incomparable(rule, query) from None
        if op == "glob":
            hit = _version_eq(value, bound) or _version_eq(bound, value)
        elif op == "==":
            hit = _version_eq(value, bound)
        else:
            hit = _ORDER[op](_version_cmp(value, bound), 0)
        if hit:
            return True
    return False


def _build_id_matches(rule: str, query: str) -> bool:
    """Balrog's ``matchBuildID``: a plain string comparison after the operator."""
    parsed = _get_op(rule)
    if parsed is None:
        raise _Incomparable(rule, query)
    op, operand = parsed
    if op in ("==", "glob"):
        return query == operand
    return _ORDER[op](query, operand)


def _channel_glob_matches(rule: str, channel: str) -> bool:
    """Balrog's ``matchRegex``: only a trailing ``*`` (after 2+ characters) is a wildcard."""
    if not rule.endswith("*"):
        return rule == channel
    if len(rule) < 3:
        return False
    regex = rule.replace(".", r"\.").replace("*", r"\*", rule.count("*") - 1)
    try:
        return re.match(f"^{regex[:-1]}.*$", channel) is not None
    except re.error:
        raise _Incomparable(rule, channel) from None


def _channel_matches(rule: str, channel: str) -> bool:
    """Balrog's ``matchChannel``, including the ``-cck-`` fallback channel."""
    return _channel_glob_matches(rule, channel) or _channel_glob_matches(
        rule, channel.split("-cck-")[0]
    )


def _channels_overlap(left: list[str], right: list[str]) -> bool:
    for a, b in itertools.product(left, right):
        if a == b or _channel_matches(a, b.rstrip("*")) or _channel_matches(b, a.rstrip("*")):
            return True
    return False


def _locales_overlap(left: list[str], right: list[str]) -> bool:
    return bool(set(left) & set(right))


def _has_operator(value: str) -> bool:
    return value.startswith(("<", ">"))


def _version_parts(version: str, whole: str, other: str) -> list[int]:
    try:
        return [int(p) for p in version.split(".")]
    except ValueError:
        raise _Incomparable(whole, other) from None


def _nearest_version(value: str, other: str) -> str | None:
    """The closest concrete version a comparison admits (None for plain versions)."""
    bare = value.lstrip("<>=")
    if "=" in value:
        return bare
    if value.startswith("<"):
        parts = _version_parts(bare, value, other)
        for i in reversed(range(len(parts))):
            if parts[i]:
                parts[i] -= 1
                break
            if i == 0:
                raise _Incomparable(value, other)
            parts[i] = 999  # Balrog's assumption: no version part exceeds 999
        return ".".join(map(str, parts))
    if value.startswith(">"):
        parts = _version_parts(bare, value, other)
        parts[-1] += 1
        return ".".join(map(str, parts))
    return None


def _versions_overlap(left: list[str], right: list[str]) -> bool:
    for a, b in itertools.product(left, right):
        if a == b:
            return True
        if _has_operator(a) and not _has_operator(b):
            if _version_matches(a, b):
                return True
        elif _has_operator(b) and not _has_operator(a):
            if _version_matches(b, a):
                return True
        else:
            near = [n for v, o in ((a, b), (b, a)) if (n := _nearest_version(v, o)) is not None]
            if len(near) != 2:
                raise _Incomparable(a, b)
            if _version_matches(a, near[1]) or _version_matches(b, near[0]):
                return True
    return False


def _nearest_build_id(value: str, other: str) -> str | None:
    bare = value.lstrip("<>=")
    if "=" in value:
        return bare
    if value.startswith(("<", ">")):
        try:
            number = int(bare)
        except ValueError:
            raise _Incomparable(value, other) from None
        return str(number - 1 if value.startswith("<") else number + 1)
    return None


def _build_ids_overlap(left: list[str], right: list[str]) -> bool:
    for a, b in itertools.product(left, right):
        if a == b:
            return True
        near = [n for v, o in ((a, b), (b, a)) if (n := _nearest_build_id(v, o)) is not None]
        if len(near) != 2:
            raise _Incomparable(a, b)
        if _build_id_matches(a, near[1]) or _build_id_matches(b, near[0]):
            return True
    return False


_OVERLAP: dict[str, Callable[[list[str], list[str]], bool]] = {
    "channels": _channels_overlap,
    "locales": _locales_overlap,
    "versions": _versions_overlap,
    "buildIDs": _build_ids_overlap,
}


def _group_part(group: dict[str, Any], index: int, key: str) -> dict[str, Any]:
    """A group's ``for``/``fields``; Balrog fails when the check needs one that is absent."""
    if key not in group:
        raise _invalid(("updateLine", index), f"{key!r} is required when groups are compared")
    return group[key]


def _check_update_line(groups: list[dict[str, Any]]) -> None:
    """Refuse two groups that set the same field and could match the same request."""
    clashes: list[tuple[int, int, set[str]]] = []
    for (i, first), (j, second) in itertools.product(enumerate(groups), repeat=2):
        if first == second:
            continue
        shared = set(_group_part(first, i, "fields")) & set(_group_part(second, j, "fields"))
        if not shared:
            continue
        overlaps = []
        for condition, overlap in _OVERLAP.items():
            # A condition missing from either group matches everything.
            if condition not in _group_part(first, i, "for") or condition not in _group_part(
                second, j, "for"
            ):
                continue
            try:
                overlaps.append(overlap(first["for"][condition], second["for"][condition]))
            except _Incomparable as err:
                raise _invalid(
                    ("updateLine", i, "for", condition),
                    f"cannot tell whether {err.left!r} and {err.right!r} (updateLine.{j}) overlap",
                ) from None
        if all(overlaps):
            clashes.append((i, j, shared))
    if clashes:
        i, j, _ = clashes[0]
        fields = ", ".join(sorted(set().union(*(c[2] for c in clashes))))
        raise _invalid(
            ("updateLine",),
            f"groups {i} and {j} can match the same request and both set: {fields}",
        )
