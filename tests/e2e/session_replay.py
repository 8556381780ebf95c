"""Replay a recorded admin-API session and list every way the answers differ.

A session is what a client saw from Balrog's admin API, kept as one JSON file,
so that rulelog can be held to the same answers without a Balrog running
beside it. The comparison is strict where clients are strict: the status, the
``Content-Type`` header character for character (Balrog's Flask views label
many JSON bodies ``text/html; charset=utf-8``, and replaying tools check it),
and the body. Values that honestly vary between runs (timestamps) are named in
an ``ignore`` list instead of loosening the whole comparison.

File format (``docs/recorded-sessions.md`` has the long version)::

    {
      "description": "what the session exercises",      (optional)
      "as": "alice",                                      (optional, default "alice")
      "ignore": ["$.revisions[*].timestamp"],            (optional, every exchange)
      "exchanges": [
        {
          "as": "releng",                                 (optional; null: no token)
          "ignore": ["$.when"],                           (optional, this exchange)
          "capture": {"rev": "$.rules[1].change_id"},     (optional, for later exchanges)
          "request": {"method": "PUT", "path": "/rules/1",
                      "headers": {...}, "json": {...}},   (or "body": "raw text")
          "response": {"status": 200, "content_type": "application/json",
                       "headers": {"X-Data-Version": "2"}, (optional, each exact)
                       "json": {...}}                     (or "text": "...", or neither)
        }
      ]
    }

A file holding a bare list is the ``exchanges`` of a session with no other
keys. ``path`` is the admin API's own path (``/rules``, ``/v2/releases/R``),
query string included. ``as`` names the user whose bearer token the request
carries: the end-to-end store makes ``alice`` an admin; any other name gets a
token and holds what earlier exchanges granted it. A response with neither
``json`` nor ``text`` has its body unchecked.

Ignore paths: ``$`` is the body, ``.name`` a member, ``[3]`` an item,
``[*]`` / ``.*`` every item or member. An ignored value must still be present
on both sides; only its value is not compared.

Captures: a value an implementation numbers its own way (a history
``change_id``) is ignored where it appears and captured from the answer by a
path without wildcards; a later request (a string value, or inside ``path``)
or expected answer (a whole value) names it as ``"${rev}"``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tests.e2e.conftest import AdminClient, Answer

DEFAULT_USER = "alice"
_STEP = re.compile(r"\.([A-Za-z_][\w-]*|\*)|\[(\d+|\*)\]")
_IGNORED = "<ignored>"
_CAPTURED = re.compile(r"\$\{(\w+)\}")


@dataclass(frozen=True)
class Exchange:
    """One request and the answer Balrog gives it."""

    index: int
    request: dict[str, Any]
    response: dict[str, Any]
    as_user: str | None
    ignore: tuple[str, ...]
    capture: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Session:
    name: str
    description: str
    exchanges: tuple[Exchange, ...]


@dataclass
class Differences:
    """Every difference found, each prefixed with its exchange, for one failure message."""

    lines: list[str] = field(default_factory=list)

    def add(self, exchange: Exchange, what: str) -> None:
        request = exchange.request
        self.lines.append(f"#{exchange.index} {request['method']} {request['path']}: {what}")

    def __bool__(self) -> bool:
        return bool(self.lines)

    def __str__(self) -> str:
        return "\n".join(self.lines)


def load_session(path: Path) -> Session:
    """The session in ``path``; a malformed file fails loudly, not as a silent pass."""
    raw = json.loads(path.read_text())
    top: dict[str, Any] = {"exchanges": raw} if isinstance(raw, list) else raw
    unknown = set(top) - {"description", "as", "ignore", "exchanges"}
    if unknown:
        raise ValueError(f"{path.name}: unknown session keys {sorted(unknown)}")
    default_user = top.get("as", DEFAULT_USER)
    shared = tuple(top.get("ignore", ()))
    exchanges = []
    for index, item in enumerate(top["exchanges"]):
        request, response = item["request"], item["response"]
        if "json" in request and "body" in request:
            raise ValueError(f"{path.name} #{index}: request has both json and body")
        if "json" in response and "text" in response:
            raise ValueError(f"{path.name} #{index}: response has both json and text")
        for ignored in (*shared, *item.get("ignore", ())):
            parse_path(ignored)  # a typo in a path would otherwise ignore nothing
        for captured in item.get("capture", {}).values():
            if "*" in parse_path(captured):
                raise ValueError(f"{path.name} #{index}: capture {captured!r} has a wildcard")
        exchanges.append(
            Exchange(
                index=index,
                request=request,
                response=response,
                as_user=item.get("as", default_user),
                ignore=(*shared, *item.get("ignore", ())),
                capture=dict(item.get("capture", {})),
            )
        )
    return Session(path.stem, top.get("description", ""), tuple(exchanges))


def parse_path(text: str) -> list[str | int]:
    """``$.a[0].*`` as steps ``["a", 0, "*"]``."""
    if not text.startswith("$"):
        raise ValueError(f"ignore path must start with $: {text!r}")
    steps: list[str | int] = []
    position = 1
    while position < len(text):
        match = _STEP.match(text, position)
        if match is None:
            raise ValueError(f"bad ignore path {text!r} at {position}")
        name, item = match.groups()
        steps.append(name if name is not None else (item if item == "*" else int(item)))
        position = match.end()
    return steps


def mask(value: Any, steps: list[str | int]) -> Any:
    """``value`` with what ``steps`` reach replaced by a marker (absent parts stay absent)."""
    if not steps:
        return _IGNORED
    head, rest = steps[0], steps[1:]
    if isinstance(value, dict) and isinstance(head, str):
        keys = value.keys() if head == "*" else [head] if head in value else []
        return {k: mask(v, rest) if k in keys else v for k, v in value.items()}
    if isinstance(value, list) and (head == "*" or isinstance(head, int)):
        return [mask(v, rest) if head == "*" or i == head else v for i, v in enumerate(value)]
    return value


def masked(value: Any, paths: tuple[str, ...]) -> Any:
    for text in paths:
        value = mask(value, parse_path(text))
    return value


def reach(value: Any, steps: list[str | int]) -> Any:
    """The value at ``steps`` (no wildcards); ``KeyError`` if there is none."""
    for step in steps:
        member = isinstance(value, dict) and isinstance(step, str) and step in value
        item = isinstance(value, list) and isinstance(step, int) and step < len(value)
        if not (member or item):
            raise KeyError(step)
        value = value[step]
    return value


def substituted(value: Any, captured: dict[str, Any]) -> Any:
    """``value`` with each ``"${name}"`` replaced by what was captured as ``name``: a whole
    string becomes the captured value itself (an int stays an int)."""
    if isinstance(value, dict):
        return {k: substituted(v, captured) for k, v in value.items()}
    if isinstance(value, list):
        return [substituted(v, captured) for v in value]
    if isinstance(value, str):
        whole = _CAPTURED.fullmatch(value)
        if whole and whole.group(1) in captured:
            return captured[whole.group(1)]
        return _CAPTURED.sub(lambda m: str(captured.get(m.group(1), m.group(0))), value)
    return value


def send(client: AdminClient, exchange: Exchange) -> Answer:
    request = exchange.request
    raw = request.get("body")
    return client.request(
        request["method"],
        request["path"],
        json_body=request.get("json"),
        raw=raw.encode() if isinstance(raw, str) else None,
        as_user=exchange.as_user,
        headers=request.get("headers"),
    )


def compare(exchange: Exchange, answer: Answer, differences: Differences) -> None:
    expected = exchange.response
    if answer.status != expected["status"]:
        differences.add(exchange, f"status {answer.status}, expected {expected['status']}")
    content_type = answer.headers.get("Content-Type")
    if content_type != expected["content_type"]:
        differences.add(
            exchange, f"Content-Type {content_type!r}, expected {expected['content_type']!r}"
        )
    for name, value in expected.get("headers", {}).items():
        if answer.headers.get(name) != value:
            differences.add(
                exchange, f"header {name} {answer.headers.get(name)!r}, expected {value!r}"
            )
    if "text" in expected and answer.text != expected["text"]:
        differences.add(exchange, f"body {answer.text!r}, expected {expected['text']!r}")
    if "json" in expected:
        try:
            got = json.loads(answer.body)
        except ValueError:
            differences.add(exchange, f"body is not JSON: {answer.text[:300]!r}")
            return
        want = masked(expected["json"], exchange.ignore)
        got = masked(got, exchange.ignore)
        if got != want:
            differences.add(
                exchange,
                f"body {json.dumps(got, sort_keys=True)}, "
                f"expected {json.dumps(want, sort_keys=True)}",
            )


def replay(client: AdminClient, session: Session) -> Differences:
    """Send every exchange in order (later ones depend on earlier ones) and compare all of
    them: one run reports every difference, not only the first."""
    differences = Differences()
    captured: dict[str, Any] = {}
    for exchange in session.exchanges:
        if captured:
            exchange = replace(
                exchange,
                request=substituted(exchange.request, captured),
                response=substituted(exchange.response, captured),
            )
        answer = send(client, exchange)
        compare(exchange, answer, differences)
        for name, text in exchange.capture.items():
            try:
                captured[name] = reach(json.loads(answer.body), parse_path(text))
            except (KeyError, ValueError):
                differences.add(exchange, f"nothing to capture as {name} at {text}")
    return differences
