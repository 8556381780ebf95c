"""Answer one update request: match a rule, pick a release, render the body.

The straight line of Balrog's ``AUS.evaluateRules`` and its web handlers:

1. updates shut off for (product, channel) or (product, fallback channel):
   no update, no rule;
2. the winning rule (``domain.matching``); a null mapping serves nothing;
3. ``backgroundRate`` below 100 rolls a 0-99 dice unless ``force=1``;
   ``force=-1`` or a losing roll switches to ``fallbackMapping`` (none: no
   update);
4. the release decides (``should_serve``); when a pin caps it, the pinned
   release of the fallback channel is served instead, if one is registered;
5. superblobs pull in other products' answers or other releases.

Balrog answers 400 where the request (or data it blames on the request) is
bad: ``Invalid`` propagates. Where Balrog crashes (500) rulelog serves no
update instead -- an empty ``<updates>`` or ``{}`` -- with ``problem`` set.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from rulelog.domain.errors import Invalid
from rulelog.domain.serving.blobs.common import (
    Blob,
    RenderContext,
    Serve,
    ServingCrash,
    ServingSettings,
)
from rulelog.domain.serving.blobs.render import (
    EMPTY_UPDATES,
    ResponsePart,
    make_blob,
    needs_squash,
    render_xml,
)
from rulelog.domain.serving.matching import CompiledRule, RuleIndex, matching_rules, select_rule
from rulelog.domain.serving.request import Force, RouteNotFound, UpdateRequest
from rulelog.domain.serving.versions import pin_version

__all__ = [
    "JSON_CONTENT_TYPE",
    "XML_CONTENT_TYPE",
    "KeyedRows",
    "Response",
    "ServingView",
    "SnapshotView",
    "evaluate",
    "roll_dice",
    "route_not_found",
]

XML_CONTENT_TYPE = "text/xml; charset=utf-8"
JSON_CONTENT_TYPE = "application/json"
_HTML_CONTENT_TYPE = "text/html; charset=utf-8"
_NOT_FOUND_TEXT = (
    "The requested URL was not found on the server. If you entered the URL manually"
    " please check your spelling and try again."
)

Dice = Callable[[], int]
_default_dice: Dice = functools.partial(random.randint, 0, 99)


def roll_dice() -> int:
    """One roll of the backgroundRate dice (0-99), as ``evaluate`` rolls it by default:
    for a caller that rolls before evaluating (``api.public.front``'s answer cache)."""
    return _default_dice()


class ServingView(Protocol):
    """The read model one evaluation needs (a live or test-channel view)."""

    def rules(self, product: str) -> Sequence[CompiledRule]:
        """Compiled rules for ``product`` plus product-less ones, by rule_id."""
        ...

    def release(self, name: str) -> Mapping[str, Any] | None:
        """A release's blob (Balrog ``data``), or None when there is none."""
        ...

    def release_product(self, name: str) -> str | None:
        """The product a release belongs to (system add-on superblobs need it)."""
        ...

    def is_shut_off(self, product: str, channel: str) -> bool:
        """Whether an emergency shutoff exists for exactly this product/channel."""
        ...

    def pin_mapping(self, product: str, channel: str, version: str) -> str | None:
        """The release pinned for ``version`` (``120.`` / ``120.1.``), if any."""
        ...


@dataclass(frozen=True, slots=True)
class Response:
    """What the HTTP layer sends. ``problem`` is for logs, never for clients."""

    status: int
    content_type: str
    body: str
    headers: Mapping[str, str] = field(default_factory=dict)
    problem: str | None = None
    #: The answer depended on a dice roll (a ``backgroundRate`` below 100): the
    #: same request may get another answer, so it must never be cached as is.
    varies: bool = False
    #: Each roll of the dice, in order: (the backgroundRate it was compared to, the
    #: roll). With one roll, the answer is the same for every roll on the same side of
    #: that rate (below it: the rule's mapping; at or above: its fallback).
    rolls: tuple[tuple[int, int], ...] = ()
    #: The products whose rules the answer was chosen from (superblobs ask for several);
    #: None when not known. A rule change for another product cannot change it.
    products: frozenset[str] | None = None
    #: The rules that won (the top-level one and a superblob's parts'); None: not known.
    rules: frozenset[int] | None = None

    @property
    def rule_id(self) -> str | None:
        return self.headers.get("Rule-ID")


def _rule_headers(rule: CompiledRule | None) -> dict[str, str]:
    if rule is None:
        return {"Rule-ID": "unknown", "Rule-Data-Version": "unknown"}
    return {"Rule-ID": str(rule.rule_id), "Rule-Data-Version": str(rule.data_version)}


def _problem(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class _Evaluation:
    """One request's evaluation; remembers the top-level rule for headers."""

    def __init__(self, view: ServingView, dice: Dice) -> None:
        self.view = view
        self._dice = dice
        self.top_rule: CompiledRule | None = None
        self.rolls: list[tuple[int, int]] = []
        self.products: set[str] = set()
        self.rules: set[int] = set()

    def dice(self, rate: int) -> int:
        roll = self._dice()
        self.rolls.append((rate, roll))
        return roll

    def load(self, name: str) -> Blob:
        data = self.view.release(name)
        if data is None:
            raise ServingCrash(f"release {name!r} does not exist")
        return make_blob(data)

    def _throttled(self, request: UpdateRequest, rule: CompiledRule) -> bool:
        """Whether this request falls outside the rule's backgroundRate."""
        if request.force is Force.MAIN or rule.background_rate >= 100:
            return False
        if request.force is Force.FALLBACK or rule.background_rate <= 0:
            return True  # a roll of 0-99 is never below 0: no dice, the answer is fixed
        return self.dice(rule.background_rate) >= rule.background_rate

    def resolve(
        self, request: UpdateRequest, *, top: bool = False
    ) -> tuple[Blob | None, Any, CompiledRule | None]:
        """Balrog's ``evaluateRules``: (release, update_type, rule)."""
        view, product = self.view, request.product
        self.products.add(product)
        if view.is_shut_off(product, request.channel) or view.is_shut_off(
            product, request.fallback_channel
        ):
            return None, None, None
        rule = select_rule(matching_rules(request, view.rules(product)))
        if rule is not None:
            self.rules.add(rule.rule_id)
        if top:
            self.top_rule = rule
        if rule is None or not rule.mapping:
            return None, None, rule
        mapping = rule.mapping
        if self._throttled(request, rule):
            if not rule.fallback_mapping:
                return None, None, rule
            mapping = rule.fallback_mapping
        blob = self.load(mapping)
        verdict = blob.should_serve(request)
        if not verdict:
            return None, None, rule
        if verdict is Serve.MAYBE:
            pin = str(pin_version(request.pin or ""))
            pinned = view.pin_mapping(product, request.fallback_channel, pin)
            # An unknown pin serves the newest release: better than stranding users.
            if pinned is not None:
                blob = self.load(pinned)
                if not blob.should_serve(request):
                    return None, None, rule
        return blob, rule.update_type, rule

    def parts(self, release: Blob, request: UpdateRequest, update_type: Any) -> list[ResponsePart]:
        products = release.response_products()
        if products:
            parts = []
            for product in products:
                sub = replace(request, product=product)
                blob, sub_type, _ = self.resolve(sub)
                if blob is not None:
                    parts.append(ResponsePart(blob, sub, sub_type))
            return parts
        names = release.response_blobs()
        if names:
            parts = []
            for name in names:
                blob = self.load(name)
                sub = replace(request, product=self.view.release_product(name))
                parts.append(ResponsePart(blob, sub, update_type))
            return parts
        return [ResponsePart(release, request, update_type)]


def evaluate(
    request: UpdateRequest,
    view: ServingView,
    *,
    rng: Dice | None = None,
    settings: ServingSettings | None = None,
) -> Response:
    """The response Balrog gives to ``request`` over ``view``.

    ``rng`` returns the background-rate dice roll (0-99); inject a constant
    for deterministic tests. Raises ``Invalid`` where Balrog answers 400.
    """
    evaluation = _Evaluation(view, rng or _default_dice)
    ctx = RenderContext(settings or ServingSettings(), view.release)
    if request.api == "json":
        answer = _evaluate_json(request, evaluation, ctx)
    else:
        answer = _evaluate_xml(request, evaluation, ctx)
    return replace(
        answer,
        varies=bool(evaluation.rolls),
        rolls=tuple(evaluation.rolls),
        products=frozenset(evaluation.products),
        rules=frozenset(evaluation.rules),
    )


def _evaluate_xml(request: UpdateRequest, evaluation: _Evaluation, ctx: RenderContext) -> Response:
    try:
        if request.defect:
            raise ServingCrash(request.defect)
        release, update_type, rule = evaluation.resolve(request, top=True)
        if release is None:
            return Response(200, XML_CONTENT_TYPE, EMPTY_UPDATES, _rule_headers(rule))
        if not release.is_xml:
            raise Invalid("Wrong blob type")
        parts = evaluation.parts(release, request, update_type)
        single = not release.response_products() and not release.response_blobs()
        squash = single and needs_squash(release, request)
        body = render_xml(release, request, update_type, parts, ctx, squash=squash)
        return Response(200, XML_CONTENT_TYPE, body, _rule_headers(rule))
    except Invalid:
        raise
    except Exception as exc:  # Balrog: 500. rulelog: no update, and say why.
        headers = _rule_headers(evaluation.top_rule)
        return Response(200, XML_CONTENT_TYPE, EMPTY_UPDATES, headers, problem=_problem(exc))


def _evaluate_json(request: UpdateRequest, evaluation: _Evaluation, ctx: RenderContext) -> Response:
    try:
        release, _, rule = evaluation.resolve(request, top=True)
        if release is None:
            return Response(404, _HTML_CONTENT_TYPE, "")
        body = json.dumps(release.json_response(request, ctx))
        return Response(200, JSON_CONTENT_TYPE, body, _rule_headers(rule))
    except Invalid:
        raise
    except Exception as exc:  # Balrog: 500. rulelog: the empty JSON answer.
        headers = _rule_headers(evaluation.top_rule)
        return Response(200, JSON_CONTENT_TYPE, "{}", headers, problem=_problem(exc))


def route_not_found(error: RouteNotFound) -> Response:
    """Balrog's answer to unrouted paths: empty updates under /update, else 404."""
    if error.update_path:
        return Response(200, XML_CONTENT_TYPE, EMPTY_UPDATES)
    return Response(404, "text/plain; charset=utf-8", _NOT_FOUND_TEXT)


class KeyedRows:
    """The lookups of a ``ServingView`` over rows keyed as the catalogue keys them.

    A view keeps ``releases`` by name (rows with their ``product``), ``shutoffs``
    by (product, channel) and ``pins`` by (product, channel, version) (rows with
    their ``mapping``); only ``rules`` and ``release`` (where blobs come from) are
    its own.
    """

    releases: Mapping[str, Mapping[str, Any]]
    shutoffs: Mapping[tuple[str, str], Any]
    pins: Mapping[tuple[str, str, str], Mapping[str, Any]]

    def release_product(self, name: str) -> str | None:
        row = self.releases.get(name)
        return None if row is None else row.get("product")

    def is_shut_off(self, product: str, channel: str) -> bool:
        return (product, channel) in self.shutoffs

    def pin_mapping(self, product: str, channel: str, version: str) -> str | None:
        row = self.pins.get((product, channel, version))
        return None if row is None else row["mapping"]


class SnapshotView(KeyedRows):
    """An in-memory ServingView over a Balrog snapshot (``fixture.json`` format).

    Rules are compiled once; good for tests, the importer and small servers.
    """

    def __init__(
        self,
        rules: Iterable[Mapping[str, Any]],
        releases: Iterable[Mapping[str, Any]],
        emergency_shutoffs: Iterable[Mapping[str, Any]] = (),
        pinnable_releases: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        self._index = RuleIndex(rules)
        self.releases = {r["name"]: r for r in releases}
        self.shutoffs = {(s["product"], s["channel"]): s for s in emergency_shutoffs}
        self.pins = {(p["product"], p["channel"], p["version"]): p for p in pinnable_releases}

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, Any], data_version: int = 1) -> SnapshotView:
        """Load a snapshot; rules lacking ``data_version`` get ``data_version``."""
        rules = [{"data_version": data_version, **r} for r in snapshot.get("rules", [])]
        return cls(
            rules,
            snapshot.get("releases", []),
            snapshot.get("emergency_shutoffs", []),
            snapshot.get("pinnable_releases", []),
        )

    def rules(self, product: str) -> Sequence[CompiledRule]:
        return self._index.candidates(product)

    def release(self, name: str) -> Mapping[str, Any] | None:
        record = self.releases.get(name)
        return None if record is None else record["data"]
