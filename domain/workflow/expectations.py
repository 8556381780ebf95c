"""``Expectation``: a named assertion about what one update request must get.

An expectation is a request (an update URL, or the fields one is built from)
and what it must be answered with: a release by name, a version at least or
at most V, no update, or a given rule. It is checked against live and test
views by ``projections.expectations``; here is what is pure: the aggregate,
validating a spec, judging an answer, and reading an import file (JSON Lines,
one spec or one update-verify block per line).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import yaml
from eventsourcing.domain import Aggregate, event

from rulelog.domain import ids
from rulelog.domain.errors import Invalid, NotFound
from rulelog.domain.serving.request import UpdateRequest, parse_url
from rulelog.domain.serving.versions import version_parser_for

#: What an expectation may demand; exactly one of these keys.
EXPECT_KEYS = ("release", "version_at_least", "version_at_most", "no_update", "rule_id")
#: URL fields, in the order of an /update/6/ path, with defaults for the optional ones.
URL_FIELDS: tuple[tuple[str, str | None], ...] = (
    ("product", None),
    ("version", None),
    ("buildID", "20000101000000"),
    ("buildTarget", None),
    ("locale", "en-US"),
    ("channel", None),
    ("osVersion", "default"),
    ("systemCapabilities", "default"),
    ("distribution", "default"),
    ("distVersion", "default"),
)
MAX_NAME = 200


class Expectation(Aggregate):
    TOPIC = "rulelog:expectation"

    class Written(Aggregate.Event):
        """What every event that (re)writes the expectation carries: its spec, who, why.
        Never stored itself (only its subclasses are); a topic all the same, as every
        event class must have one."""

        TOPIC = "rulelog:expectation.written"
        product: str
        channel: str
        url: str
        expect: dict[str, Any]
        changed_by: str
        reason: str | None

    class Created(Aggregate.Created, Written):
        TOPIC = "rulelog:expectation.added"
        name: str

    class Readded(Written):
        TOPIC = "rulelog:expectation.readded"

    class Changed(Written):
        TOPIC = "rulelog:expectation.changed"

    create_id = staticmethod(ids.expectation_id)

    @event(Created)
    def __init__(
        self,
        name: str,
        product: str,
        channel: str,
        url: str,
        expect: dict[str, Any],
        changed_by: str,
        reason: str | None,
    ) -> None:
        self.name = name
        self._set(product, channel, url, expect)
        self.removed = False

    def _set(self, product: str, channel: str, url: str, expect: dict[str, Any]) -> None:
        self.product, self.channel, self.url, self.expect = product, channel, url, expect

    @event(Readded)
    def readd(self, product: str, channel: str, url: str, expect: dict[str, Any],
              changed_by: str, reason: str | None) -> None:  # fmt: skip
        self._set(product, channel, url, expect)
        self.removed = False

    def change(self, spec: Mapping[str, Any], changed_by: str, reason: str | None) -> None:
        self.require_live()
        self._changed(**spec_fields(spec), changed_by=changed_by, reason=reason)

    @event(Changed)
    def _changed(self, product: str, channel: str, url: str, expect: dict[str, Any],
                 changed_by: str, reason: str | None) -> None:  # fmt: skip
        self._set(product, channel, url, expect)

    def remove(self, changed_by: str, reason: str | None) -> None:
        self.require_live()
        self._removed(changed_by=changed_by, reason=reason)

    @event("Removed", topic="rulelog:expectation.removed")
    def _removed(self, changed_by: str, reason: str | None) -> None:
        self.removed = True

    def require_live(self) -> None:
        if self.removed:
            raise NotFound(f"expectation {self.name} does not exist", expectation=self.name)


def spec_fields(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The stored fields of a validated spec (what the events carry)."""
    return {k: spec[k] for k in ("product", "channel", "url", "expect")}


def url_from_fields(fields: Mapping[str, Any]) -> str:
    """An /update/6/ URL from its fields (``product``, ``version``, ``buildTarget`` and
    ``channel`` required; the others default)."""
    if not isinstance(fields, Mapping):
        raise Invalid("fields: expected an object", field="fields")
    parts = []
    for name, default in URL_FIELDS:
        value = fields.get(name, default)
        if not isinstance(value, str) or not value or "/" in value:
            raise Invalid(f"fields.{name}: expected a non-empty string without '/'", field=name)
        parts.append(value)
    return "/update/6/" + "/".join(parts) + "/update.xml"


def _check_expect(expect: Any) -> dict[str, Any]:
    if not isinstance(expect, Mapping) or len(expect) != 1 or next(iter(expect)) not in EXPECT_KEYS:
        raise Invalid(f"expect: expected an object with one of {', '.join(EXPECT_KEYS)}",
                      field="expect")  # fmt: skip
    (key, value), = expect.items()
    if key == "no_update" and value is not True:
        raise Invalid("expect.no_update: expected true", field="expect")
    if key == "rule_id" and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise Invalid("expect.rule_id: expected a positive integer", field="expect")
    if key in ("release", "version_at_least", "version_at_most") and (
        not isinstance(value, str) or not value
    ):
        raise Invalid(f"expect.{key}: expected a non-empty string", field="expect")
    return {key: value}


def validate_spec(raw: Any) -> dict[str, Any]:
    """A spec as given (name, url or fields, expect, optional reason), checked and
    completed with the product and channel of its request. Raises ``Invalid``."""
    if not isinstance(raw, Mapping):
        raise Invalid("expected an object")
    unknown = set(raw) - {"name", "url", "fields", "expect", "reason", "product", "channel"}
    if unknown:
        raise Invalid(f"unknown field(s): {', '.join(sorted(unknown))}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise Invalid(f"name: expected a non-empty string of at most {MAX_NAME}", field="name")
    if ("url" in raw) == ("fields" in raw):
        raise Invalid("give exactly one of url and fields", field="url")
    url = raw["url"] if "url" in raw else url_from_fields(raw["fields"])
    if not isinstance(url, str) or not url.startswith("/update/"):
        raise Invalid("url: expected an update path (/update/...)", field="url")
    request = request_of(url)
    for key in ("product", "channel"):
        if key in raw and raw[key] != getattr(request, key):
            raise Invalid(f"{key}: {raw[key]!r} differs from the URL's", field=key)
    reason = raw.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise Invalid("reason: expected a string", field="reason")
    expect = _check_expect(raw.get("expect"))
    if "version_at_least" in expect or "version_at_most" in expect:
        parse_version(request.product, next(iter(expect.values())))
    return {
        "name": name, "product": request.product, "channel": request.channel,
        "url": url, "expect": expect, "reason": reason,
    }  # fmt: skip


def request_of(url: str) -> UpdateRequest:
    """The request an expectation's URL makes (``Invalid`` if it routes nowhere)."""
    try:
        return parse_url(url)
    except Invalid:
        raise
    except Exception as exc:  # RouteNotFound, RouteRedirect: not a request we can check
        raise Invalid(f"url: not an update request ({type(exc).__name__})", field="url") from exc


def parse_version(product: str, text: str) -> Any:
    try:
        return version_parser_for(product)(text)
    except Exception as exc:
        raise Invalid(f"not a version: {text!r}", field="expect") from exc


def judge(expect: Mapping[str, Any], got: Mapping[str, Any], product: str) -> bool:
    """Whether an answer (``update``, ``release``, ``version``, ``rule_id``) meets ``expect``."""
    (key, value), = expect.items()
    if key == "no_update":
        return not got["update"]
    if key == "release":
        return bool(got["update"]) and got["release"] == value
    if key == "rule_id":
        return got["rule_id"] == value
    if not got["update"] or not got["version"]:
        return False
    try:
        served = parse_version(product, got["version"])
        bound = parse_version(product, value)
        return bool(served >= bound if key == "version_at_least" else served <= bound)
    except (Invalid, TypeError):
        return False


def expand_update_verify(block: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An update-verify style block: every from-version x platform x locale, one spec each.

    ``{"name": N, "product": P, "channel": C, "from": [{"version", "buildID"}],
    "platforms": [...], "locales": [...], "expect": {...}}``; names are
    ``N/version/platform/locale``.
    """
    specs = []
    for key in ("from", "platforms", "locales"):
        if not isinstance(block.get(key), list) or not block[key]:
            raise Invalid(f"{key}: expected a non-empty list", field=key)
    for origin in block["from"]:
        if not isinstance(origin, Mapping):
            raise Invalid("from: expected objects with version and buildID", field="from")
        for platform in block["platforms"]:
            for locale in block["locales"]:
                fields = {
                    "product": block.get("product"), "channel": block.get("channel"),
                    "version": origin.get("version"),
                    "buildID": origin.get("buildID", "20000101000000"),
                    "buildTarget": platform, "locale": locale,
                }  # fmt: skip
                name = f"{block.get('name')}/{origin.get('version')}/{platform}/{locale}"
                specs.append({"name": name, "fields": fields, "expect": block.get("expect"),
                              "reason": block.get("reason")})  # fmt: skip
    return specs


def parse_import(text: str) -> list[dict[str, Any]]:
    """Validated specs of an import file: JSON Lines, each line one spec or one
    update-verify block (it has ``from``). All or nothing: the first bad line
    raises ``Invalid`` naming its line number, as does a name given twice."""

    def lines() -> Iterator[tuple[int, Any]]:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                yield number, json.loads(line)
            except ValueError as exc:
                raise Invalid(f"line {number}: {exc}", line=number) from exc

    return _specs_of(lines())


def parse_yaml_import(text: str) -> list[dict[str, Any]]:
    """The same from a YAML file: a list whose items are specs or update-verify blocks,
    each error naming the line its item starts on."""
    loader = yaml.SafeLoader(text)
    try:
        document = loader.get_single_node()
        if document is None:
            raise Invalid("no expectations in the file")
        if not isinstance(document, yaml.SequenceNode):
            raise Invalid("a YAML import is a list of expectations or update-verify blocks")
        items = [
            (node.start_mark.line + 1, loader.construct_object(node, deep=True))
            for node in document.value
        ]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise Invalid(f"{where}not YAML ({getattr(exc, 'problem', None) or exc})") from exc
    finally:
        loader.dispose()
    return _specs_of(items)


def _specs_of(items: Iterable[tuple[int, Any]]) -> list[dict[str, Any]]:
    """Validate each numbered item (a spec, or a block expanded into specs); all or none."""
    specs: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for number, raw in items:
        try:
            given = expand_update_verify(raw) if isinstance(raw, dict) and "from" in raw else [raw]
            for spec in map(validate_spec, given):
                if spec["name"] in seen:
                    raise Invalid(f"{spec['name']} already given on line {seen[spec['name']]}")
                seen[spec["name"]] = number
                specs.append(spec)
        except (ValueError, Invalid) as exc:
            raise Invalid(f"line {number}: {exc}", line=number) from exc
    if not specs:
        raise Invalid("no expectations in the file")
    return specs
