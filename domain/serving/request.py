"""Update requests: the parsed form of ``/update/...`` and ``/json/...`` URLs.

Balrog's public app (Flask + connexion + werkzeug) shapes what reaches its
rule matching in ways clients depend on, so parsing reproduces them:

* the path is percent-decoded before routing (undecodable UTF-8 becomes
  U+FFFD) and every path segment must be non-empty; a path that only routes
  after merging ``//`` is answered with a redirect (``RouteRedirect``);
* connexion rejects query options a route does not declare (400), an empty
  ``pin`` (400), and keeps the *last* value of a repeated option;
* XML fields are made ASCII (each non-ASCII character becomes ``?``) -- except
  ``systemCapabilities``, which Balrog reads before that;
* Avast's ``?force=1?avast=1`` is split back into two options, its ``x86 ``
  locale prefix is removed, ``/update/3/.../<v>esrpre/...`` serves ``<v>``;
* ``systemCapabilities`` is either ``ISET:x,MEM:n,JAWS:b`` or old-style
  ``iset[,mem]``; unparseable memory or JAWS values mean "unknown";
* ``headerArchitecture`` is ``PPC`` only for Darwin builds whose User-Agent
  says PPC, else ``Intel``; JSON requests have none (nor distVersion).

Checks that Balrog makes lazily (version syntax, pin syntax) are left to
evaluation, because whether they fail depends on the rules and releases.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, unquote_to_bytes

from rulelog.domain.errors import Invalid, NotFound, RulelogError

__all__ = [
    "Force",
    "RouteNotFound",
    "RouteRedirect",
    "UpdateRequest",
    "fallback_channel",
    "parse",
    "parse_url",
]


class Force(enum.Enum):
    """The ``force`` option: ``1`` always serves the main mapping, ``-1`` the
    fallback; any other value is ignored (Balrog treats it as absent)."""

    MAIN = "1"
    FALLBACK = "-1"


@dataclass(frozen=True, slots=True)
class UpdateRequest:
    """What rule matching and rendering read, with Balrog's defaults applied.

    ``None`` means the request has no such field (JSON requests carry no
    locale, buildID, distVersion or headerArchitecture), which matters:
    a rule naming distVersion never matches a request without one.
    """

    api: str  # "update" (XML) or "json"
    query_version: int
    product: str
    version: str
    build_target: str
    channel: str
    build_id: str | None = None
    locale: str | None = None
    os_version: str = ""
    distribution: str = ""
    dist_version: str | None = None
    instruction_set: str | None = ""
    memory: int | None = None
    jaws: bool | None = None
    header_architecture: str | None = None
    force: Force | None = None
    mig64: bool | None = None
    pin: str | None = None
    platform_version: str | None = None
    imei: str | None = None
    # Set when Balrog itself would fail with a 500 on this request.
    defect: str | None = None

    @property
    def fallback_channel(self) -> str:
        return fallback_channel(self.channel)


def fallback_channel(channel: str) -> str:
    """Partner (CCK) channels fall back to their base: ``release-cck-x`` -> ``release``."""
    return channel.split("-cck-")[0]


class RouteNotFound(NotFound):
    """No update route matches. Balrog answers paths starting with
    ``/update`` with an empty update list (200) and anything else with 404."""

    def __init__(self, path: str) -> None:
        super().__init__(f"No route matches {path!r}", path=path)
        self.path = path
        self.update_path = path.startswith("/update")


class RouteRedirect(RulelogError):
    """The path routes only after merging repeated slashes: Balrog (werkzeug)
    answers 308 with ``location``."""

    def __init__(self, location: str) -> None:
        super().__init__(f"Redirect to {location}", location=location)
        self.location = location


_BASE = ("product", "version", "buildID", "buildTarget", "locale", "channel")
_UPDATE_ROUTES: dict[str, tuple[str, ...]] = {
    "1": _BASE,
    "2": (*_BASE, "osVersion"),
    "3": (*_BASE, "osVersion", "distribution", "distVersion"),
    "4": (*_BASE, "osVersion", "distribution", "distVersion", "platformVersion"),
    "5": (*_BASE, "osVersion", "distribution", "distVersion", "IMEI"),
    "6": (*_BASE, "osVersion", "systemCapabilities", "distribution", "distVersion"),
}
_UPDATE_OPTIONS = frozenset({"avast", "force", "mig64", "pin"})
_OPTIONS: dict[str, frozenset[str]] = {
    **{n: _UPDATE_OPTIONS for n in _UPDATE_ROUTES},
    "2": frozenset({"avast", "force", "mig64"}),  # Balrog's spec forgot pin here
}
_JSON_ROUTES: dict[str, tuple[str, ...]] = {
    "1": ("product", "version", "buildTarget", "channel"),
    "2": ("product", "version", "buildTarget", "channel", "osVersion"),
}
_JSON_OPTIONS = frozenset({"force"})
_QUERY_VERSION = re.compile(r"^.*/update/(\d+)/.*\.xml.*$")
_FORCE = {f.value: f for f in Force}
_ABSENT = object()
# Query keys Balrog never reads again after its Avast fix-up may overwrite them.
_HARMLESS_OVERWRITES = frozenset({"avast", "queryVersion", "IMEI", "platformVersion"})
_READ_KEYS = frozenset(
    {*_BASE, "osVersion", "distribution", "distVersion", "systemCapabilities", "pin"}
    | {"instructionSet", "memory", "jaws", "headerArchitecture", "force", "mig64"}
)


def parse_url(url: str, headers: Mapping[str, str] | None = None) -> UpdateRequest:
    """Parse a request target (``/path?query``) as received on the wire, or a full URL
    (``http://host:port/path?query``, as the demo prints and people paste)."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.isalpha() and not scheme.startswith("/"):
        url = "/" + rest.partition("/")[2]
    path, _, query = url.partition("?")
    return parse(path, query, headers)


def parse(
    raw_path: str, query_string: str = "", headers: Mapping[str, str] | None = None
) -> UpdateRequest:
    """Route and parse one request; raises Invalid, RouteNotFound or RouteRedirect."""
    path = unquote(raw_path, errors="replace")
    routed = _route(path)
    if routed is None:
        merged = re.sub("/{2,}", "/", path)
        if merged != path and _route(merged) is not None:
            raise RouteRedirect(merged + ("?" + query_string if query_string else ""))
        raise RouteNotFound(path)
    api, number, params = routed
    allowed = _JSON_OPTIONS if api == "json" else _OPTIONS[number]
    options = _parse_options(query_string, allowed)
    if api == "json":
        return _json_request(int(number), params, options)
    return _update_request(path, query_string, params, options, headers or {})


def _route(path: str) -> tuple[str, str, dict[str, str]] | None:
    segments = path.split("/")
    if len(segments) < 4 or segments[0] != "":
        return None
    api, number = segments[1], segments[2]
    if api == "update" and number in _UPDATE_ROUTES:
        names, leaf = _UPDATE_ROUTES[number], "update.xml"
    elif api == "json" and number in _JSON_ROUTES:
        names, leaf = _JSON_ROUTES[number], "update.json"
    else:
        return None
    values = segments[3:-1]
    if len(values) != len(names) or segments[-1] != leaf or not all(values):
        return None
    params = dict(zip(names, values, strict=True))
    if api == "update" and number == "3":
        version = params["version"]
        if len(version) > len("esrpre") and version.endswith("esrpre"):
            params["version"] = version[: -len("esrpre")]
    return api, number, params


def _unquote_option(text: str) -> str:
    """Decode like werkzeug: undecodable bytes stay percent-encoded."""
    raw = unquote_to_bytes(text.replace("+", " "))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        decoded = raw.decode("utf-8", "surrogateescape")
        return "".join(
            f"%{ord(c) - 0xDC00:02X}" if "\udc80" <= c <= "\udcff" else c for c in decoded
        )


def _parse_options(query_string: str, allowed: frozenset[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    for chunk in query_string.split("&"):
        if not chunk:
            continue
        name, _, value = chunk.partition("=")
        options[_unquote_option(name)] = _unquote_option(value)  # last one wins
    extra = sorted(set(options) - allowed)
    if extra:
        raise Invalid(f"Extra query parameter(s) {', '.join(extra)} not in spec", field=extra[0])
    if options.get("pin") == "":
        raise Invalid("'' is too short: the pin option must not be empty", field="pin")
    return options


def _json_request(number: int, params: dict[str, str], options: dict[str, str]) -> UpdateRequest:
    return UpdateRequest(
        api="json",
        query_version=number,
        product=params["product"],
        version=params["version"],
        build_target=params["buildTarget"],
        channel=params["channel"],
        os_version=params.get("osVersion", ""),
        force=_FORCE.get(options.get("force", "")),
    )


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode()


def _update_request(
    path: str,
    query_string: str,
    params: dict[str, str],
    options: dict[str, str],
    headers: Mapping[str, str],
) -> UpdateRequest:
    # Balrog reads the version number out of the whole URL, greedily.
    url = path
    if not path.isascii() or "\n" in path:  # such characters are %-encoded in its URL
        url = "".join(c if c.isascii() and c != "\n" else "%" for c in path)
    match = _QUERY_VERSION.match(f"{url}?{query_string}")
    query_version = int(match.group(1)) if match else 0
    raw = {**params, **options}
    if query_version == 1:
        raw["osVersion"] = ""
    query: dict[str, str | None] = {key: _ascii(value) for key, value in raw.items()}
    defect = _fix_avast(query, has_caps="systemCapabilities" in params)
    if defect is None and query.get("locale") is not None:
        query["locale"] = str(query["locale"]).replace("x86 ", "")
    caps = _system_capabilities(params.get("systemCapabilities"))
    build_target = params["buildTarget"] if defect else str(query["buildTarget"])
    mig64 = query.get("mig64", _ABSENT)
    return UpdateRequest(
        api="update",
        query_version=query_version,
        product=str(query["product"]),
        version=str(query["version"]),
        build_target=build_target,
        channel=str(query["channel"]),
        build_id=str(query["buildID"]),
        locale=str(query["locale"]),
        os_version=str(query.get("osVersion") or ""),
        distribution=str(query.get("distribution") or ""),
        dist_version=query.get("distVersion"),
        instruction_set=caps[0],
        memory=caps[1],
        jaws=caps[2],
        header_architecture=_header_architecture(build_target, _user_agent(headers)),
        force=_FORCE.get(query.get("force") or ""),
        mig64=None if mig64 is _ABSENT else mig64 == "1",
        pin=query.get("pin"),
        platform_version=query.get("platformVersion"),
        imei=query.get("IMEI"),
        defect=defect,
    )


def _fix_avast(query: dict[str, str | None], has_caps: bool) -> str | None:
    """Undo Avast's ``force=1?avast=1`` (or ``%3F``); returns a defect, if any.

    Balrog then stores ``int(value)`` under whatever key precedes the ``=``.
    Keys it never reads again are harmless; ``force``/``mig64`` become
    non-values; anything else makes Balrog fail (reported as a defect).
    """
    force = query.get("force")
    if force is None or "avast" not in force:
        return None
    pieces = force.split("?", 1)
    if len(pieces) < 2:
        pieces = force.split("%3F", 1)
    query["force"] = pieces[0]
    if len(pieces) < 2:
        return None
    key, *rest = pieces[1].split("=")
    try:
        int(rest[0])
    except (IndexError, ValueError):
        return None
    if key in ("force", "mig64"):
        query[key] = None
        return None
    harmless = set(_HARMLESS_OVERWRITES) | {"headerArchitecture"}
    if has_caps:  # these are recomputed from systemCapabilities afterwards
        harmless |= {"systemCapabilities", "instructionSet", "memory", "jaws"}
    if key in harmless or key not in _READ_KEYS:
        return None
    return f"the Avast fix-up overwrote {key!r} with a number"


def _system_capabilities(text: str | None) -> tuple[str | None, int | None, bool | None]:
    """``(instructionSet, memory, jaws)``; routes without the field match as ''."""
    if text is None:
        return "", None, None
    iset: str | None = None
    memory: int | None = None
    jaws: bool | None = None
    if text.startswith("ISET:"):
        for part in text.split(","):
            if ":" not in part:
                continue  # junk such as "(select*from(x))a" is skipped
            key, value = part.split(":", 1)
            if key == "ISET":
                iset = value
            elif key == "MEM":
                memory = _int_or_none(value)
            elif key == "JAWS":
                number = _int_or_none(value)
                jaws = None if number is None else bool(number)
    else:
        parts = text.split(",")
        if len(parts) in (1, 2):
            iset = parts[0]
        if len(parts) == 2:
            memory = _int_or_none(parts[1])
    return iset, memory, jaws


def _int_or_none(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _user_agent(headers: Mapping[str, str]) -> str | None:
    for name, value in headers.items():
        if name.lower() == "user-agent":
            return value
    return None


def _header_architecture(build_target: str, user_agent: str | None) -> str:
    if build_target.startswith("Darwin") and user_agent and "PPC" in user_agent:
        return "PPC"
    return "Intel"
