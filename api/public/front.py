"""The public app's front door: update requests answered before any framework code.

``/update/...`` and ``/json/...`` are nearly all the traffic. ``PublicFront``
is the outermost ASGI callable: those two prefixes are answered here, with
Balrog's headers, a request id and one log line, and everything else goes
to the Starlette app (dockerflow, robots, ``/api/v1``) and its middleware.
Measured against a bare Starlette no-op (``bench/serve.py``), the router and
middleware stack alone cost a quarter of the capacity.

Answers are cached (``AnswerCache``): the key is the request as received --
raw path, raw query and whether the User-Agent says PPC, the one header
evaluation reads -- so it holds everything that determines the answer
besides the index generation. When the follower publishes a generation
whose only serving changes are edits of rules with a product (the common
case: release automation), only what they can change is dropped -- the
answers a rule gave when only fields matching never reads changed (its
mapping, throttle, comment), else all answers for its product -- and the
rest kept (each answer records the products and rules it was chosen from);
anything else -- releases, shutoffs, pins, test-channel mappings, scheduled
changes, rules without a product, a generation skipped -- empties the
cache. An answer that depended on one roll of the dice (a ``backgroundRate``
below 100) is kept beside the rate as one of two (``RolledAnswer``): a
request for it rolls the same dice the evaluation would, once, and gets the
answer of that side of the rate (evaluated then, the first time a side comes
up) -- the answers and their odds are the evaluation's, while the evaluation
runs twice at most instead of on every request. Answers that depended on
several rolls, on blobs that could not be loaded, or on an index not loaded
yet are never cached.
``X-Rulelog-Position`` is the position of the generation an answer is
served from (it holds there).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from rulelog.api.body_limit import DEFAULT_MAX_BODY_BYTES, BodyLimit
from rulelog.api.content_signature import ContentSignature, SigningSettings
from rulelog.api.logs import get_logger
from rulelog.api.metrics import record_answer_cache, record_request, route_template
from rulelog.api.public.middleware import (
    SECURITY_HEADERS,
    fallback_answer,
    incoming_request_id,
    new_request_id,
)
from rulelog.api.public.sampling import RequestSampler
from rulelog.api.request_log import LOGGED_TARGET_MAX, RequestLog
from rulelog.domain.serving.evaluate import Dice, roll_dice
from rulelog.domain.serving.evaluate import Response as Answer

__all__ = ["AnswerCache", "PreparedAnswer", "PublicFront", "RolledAnswer", "prepare"]

log = get_logger("rulelog.public")

UPDATE_PREFIXES = ("/update/", "/json/")
#: Cache bounds per generation (oldest entries go first): answers are a few kB.
DEFAULT_CACHE_ENTRIES = 20_000
DEFAULT_CACHE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class PreparedAnswer:
    """An answer ready to send: headers before and after ``X-Rulelog-Position`` (which,
    like the request id, is added when sent), the body as bytes."""

    status: int
    head: list[tuple[bytes, bytes]]
    tail: list[tuple[bytes, bytes]]
    body: bytes
    #: Items of the request's log line (rule id, problem), or None.
    log_items: Mapping[str, Any] | None
    #: The products and rules the answer was chosen from (None: it may depend on anything).
    products: frozenset[str] | None = None
    rules: frozenset[int] | None = None
    #: The rule whose data_version the headers show (``label``), when the answer came
    #: from the live index (not a derived test channel's): what a relabelling rewrites.
    top_rule: int | None = None
    label: bytes | None = None

    def headers(self, position: bytes, *more: tuple[bytes, bytes]) -> list[tuple[bytes, bytes]]:
        return [*self.head, (b"x-rulelog-position", position), *self.tail, *more]

    @property
    def size(self) -> int:
        """What the answer weighs in the cache's byte bound."""
        return len(self.body)

    def relabelled(self, label: bytes) -> PreparedAnswer:
        """The same answer with ``Rule-Data-Version: label`` (made field by field: on the
        hot path, where ``dataclasses.replace`` costs more than the rest of a hit)."""
        head = [(k, label if k == b"rule-data-version" else v) for k, v in self.head]
        return PreparedAnswer(
            *(self.status, head, self.tail, self.body, self.log_items),
            *(self.products, self.rules, self.top_rule, label),
        )


@dataclass(frozen=True, slots=True)
class RolledAnswer:
    """The answers to a request whose evaluation rolled the dice once, against ``rate``:
    ``below`` for a roll under it (the rule's mapping), ``above`` for the others (its
    fallback); None for a side not evaluated yet. Immutable, as the cache indexes an
    entry by what it holds: a side is added by putting a new one (``with_side``)."""

    rate: int
    below: PreparedAnswer | None = None
    above: PreparedAnswer | None = None

    def side(self, roll: int) -> PreparedAnswer | None:
        return self.below if roll < self.rate else self.above

    def with_side(self, roll: int, answer: PreparedAnswer) -> RolledAnswer:
        if roll < self.rate:
            return RolledAnswer(self.rate, answer, self.above)
        return RolledAnswer(self.rate, self.below, answer)

    @property
    def _sides(self) -> list[PreparedAnswer]:
        return [a for a in (self.below, self.above) if a is not None]

    @property
    def products(self) -> frozenset[str] | None:
        return _union([a.products for a in self._sides])

    @property
    def rules(self) -> frozenset[int] | None:
        return _union([a.rules for a in self._sides])

    @property
    def top_rule(self) -> int | None:
        """The rule both sides show (a relabelling rewrites both), else None."""
        tops = {a.top_rule for a in self._sides}
        return tops.pop() if len(tops) == 1 else None

    @property
    def label(self) -> bytes | None:
        return self._sides[0].label if self.top_rule is not None else None

    @property
    def size(self) -> int:
        return sum(a.size for a in self._sides)

    def relabelled(self, label: bytes) -> RolledAnswer:
        below, above = self.below, self.above
        return RolledAnswer(
            self.rate,
            None if below is None else below.relabelled(label),
            None if above is None else above.relabelled(label),
        )


Cached = PreparedAnswer | RolledAnswer


def _union(sets: list[frozenset[Any] | None]) -> frozenset[Any] | None:
    """Everything in ``sets``; None (not known) if one of them is."""
    if any(s is None for s in sets):
        return None
    return frozenset().union(*sets)  # type: ignore[arg-type]


def _first_roll(roll: int) -> Dice:
    """Dice whose first roll is ``roll`` (rolled already) and any further one a new roll."""
    rolls = [roll]
    return lambda: rolls.pop() if rolls else roll_dice()


def prepare(
    answer: Answer,
    cache_control: bytes | None = None,
    tail: list[tuple[bytes, bytes]] | None = None,
    *,
    live: bool = False,
) -> PreparedAnswer:
    """Headers in the order Balrog's app and rulelog's middleware give them: the answer's,
    (the position,) ``cache_control`` unless the answer has its own, then ``tail``;
    ``live``: the answer came from the live index (its top rule may be relabelled)."""
    body = answer.body.encode("utf-8")
    head = [
        (b"content-type", answer.content_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode("latin-1")),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.items()),
    ]
    after = []
    if cache_control is not None and not any(k == b"cache-control" for k, _ in head):
        after.append((b"cache-control", cache_control))
    after += tail or ()
    items: dict[str, Any] = {}
    if "Rule-ID" in answer.headers:
        items["rule_id"] = answer.headers["Rule-ID"]
    if answer.problem:
        items["problem"] = answer.problem
    top = answer.headers.get("Rule-ID", "")
    top_rule = int(top) if live and top.isdigit() and answer.rules is not None else None
    label = answer.headers.get("Rule-Data-Version", "").encode("latin-1")
    return PreparedAnswer(
        *(answer.status, head, after, body, items or None, answer.products, answer.rules),
        *(top_rule, label if top_rule is not None else None),
    )


class AnswerCache:
    """Prepared answers valid for the current index generation (``PublicFront.cache_for``
    says what survives a new one), bounded in entries and bytes; the oldest go first.

    Keys are indexed by the rules and products their answers were chosen from, so a
    new generation costs what it drops, not a pass over every answer. Relabelling is
    lazy: ``labels`` holds the current data_version of each rule relabelled since
    the cache began, and an answer a rule topped is rewritten when next served
    (``fresh``) -- an edit of a rule's comment every 20 ms costs nothing per answer
    until it is asked for.
    """

    def __init__(
        self, entries: int = DEFAULT_CACHE_ENTRIES, size: int = DEFAULT_CACHE_BYTES
    ) -> None:
        self.entries = entries
        self.size = size
        self.bytes = 0
        self._answers: dict[bytes, Cached] = {}
        self.get = self._answers.get
        self._by_rule: dict[int, set[bytes]] = {}
        self._by_product: dict[str, set[bytes]] = {}
        #: rule_id -> keys of the answers it was part of that no relabelling can
        #: rewrite (no ``top_rule``: a derived test channel's): what a relabel drops,
        #: found without a pass over every answer the rule was part of.
        self._fixed_by_rule: dict[int, set[bytes]] = {}
        #: Keys of answers whose origins are not known: any change drops them.
        self._unknown: set[bytes] = set()
        #: rule_id -> its Rule-Data-Version now, for rules relabelled (kept current by
        #: ``drop``: any other change to the rule drops the answers it topped).
        self.labels: dict[int, bytes] = {}

    def put(self, key: bytes, answer: Cached) -> None:
        if self.entries <= 0:
            return
        answers = self._answers
        if key in answers:
            self._remove(key)
        self.bytes += answer.size + len(key)
        answers[key] = answer
        if answer.products is None or answer.rules is None:
            self._unknown.add(key)
        else:
            for product in answer.products:
                self._by_product.setdefault(product, set()).add(key)
            for rule in answer.rules:
                self._by_rule.setdefault(rule, set()).add(key)
                if answer.top_rule is None:
                    self._fixed_by_rule.setdefault(rule, set()).add(key)
        while answers and (len(answers) > self.entries or self.bytes > self.size):
            self._remove(next(iter(answers)))

    def _remove(self, key: bytes) -> None:
        answer = self._answers.pop(key, None)
        if answer is None:
            return
        self.bytes -= answer.size + len(key)
        if answer.products is None or answer.rules is None:
            self._unknown.discard(key)
            return
        indexes: list[tuple[dict[Any, set[bytes]], frozenset[Any]]] = [
            (self._by_product, answer.products),
            (self._by_rule, answer.rules),
        ]
        if answer.top_rule is None:
            indexes.append((self._fixed_by_rule, answer.rules))
        for index, names in indexes:
            for name in names:
                keys = index.get(name)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[name]

    def drop(
        self,
        products: frozenset[str],
        rules: frozenset[int],
        relabelled: frozenset[int] = frozenset(),
        rows: Mapping[int, Mapping[str, Any]] | None = None,
    ) -> None:
        """Forget the answers chosen from rules of ``products``, those ``rules`` gave,
        and those whose origins are not known. Of the answers a ``relabelled`` rule gave,
        those of derived test channels are dropped, those it topped in the live index are
        relabelled (``labels``, from ``rows``: the new generation's rules), the rest kept
        (it was a part of them: nothing of it shows)."""
        if not products and not rules and not relabelled:
            return
        doomed = set(self._unknown)
        for product in products:
            doomed.update(self._by_product.get(product, ()))
        for rule in rules:
            doomed.update(self._by_rule.get(rule, ()))
        for rule in relabelled:
            doomed.update(self._fixed_by_rule.get(rule, ()))
        for key in doomed:
            self._remove(key)
        if rows is not None:
            for rule in {*self.labels, *relabelled}:
                row = rows.get(rule)
                if row is None:
                    self.labels.pop(rule, None)
                else:
                    self.labels[rule] = str(row.get("data_version")).encode("latin-1")

    def fresh(self, key: bytes, answer: Cached) -> Cached:
        """``answer`` (cached under ``key``) with its top rule's label now."""
        label = self.labels.get(answer.top_rule)  # type: ignore[arg-type]
        if label is None or label == answer.label:
            return answer
        answer = answer.relabelled(label)
        if key in self._answers:
            self._answers[key] = answer
        return answer

    def __len__(self) -> int:
        return len(self._answers)


def cache_key(scope: Scope) -> bytes:
    """The request as received, and whether its User-Agent says PPC (see ``domain.request``)."""
    key = (scope.get("raw_path") or scope["path"].encode()) + b"?" + scope["query_string"]
    for name, value in scope["headers"]:
        if name == b"user-agent":
            return key + b"\nPPC" if b"PPC" in value else key
    return key


class PublicFront:
    """Update requests answered here (cached per generation); the rest to ``app``.

    ``endpoint.answer(scope, index)`` computes an uncached answer over one
    index generation: (answer, position, cacheable).
    """

    def __init__(
        self,
        app: ASGIApp,
        endpoint: Any,
        *,
        request_log: RequestLog,
        cache_control: str,
        cache_entries: int = DEFAULT_CACHE_ENTRIES,
        body_limit: int = DEFAULT_MAX_BODY_BYTES,
        signing: SigningSettings | None = None,
        sampler: RequestSampler | None = None,
    ) -> None:
        self.app = app
        #: Answered update requests offered to the impact sample (None: not sampling).
        self.sampler = sampler
        #: Answers Balrog signs get their Content-Signature here too, when signing is on.
        self._get: ASGIApp = self._answer
        if signing is not None and signing.enabled:
            self._get = ContentSignature(self._answer, settings=signing)
        #: A GET's body is never read here; any other method meets the body limit
        #: as on every other route (a declared length over it: 413 at once).
        self._limited = BodyLimit(self._get, limit=body_limit)
        self.endpoint = endpoint
        self.request_log = request_log
        self.cache_entries = cache_entries
        self.cache_control = cache_control.encode("latin-1")
        self.tail = [
            *SECURITY_HEADERS,
            (b"x-rulelog-worker", request_log.worker.encode("latin-1")),
        ]
        self._cache = AnswerCache(0)
        self._cached_index: Any = None
        self._position = b"0"

    @property
    def state(self) -> Any:
        """The Starlette app's state (``app.state.server``), as if this were the app."""
        return self.app.state  # type: ignore[attr-defined]

    def cache_for(self, index: Any) -> AnswerCache:
        """The cache valid for generation ``index``: what the change from the previous
        generation cannot have touched is kept (see the module's docstring)."""
        cached = self._cached_index
        if index is not cached:
            narrow = index.changed_products
            if cached is None or narrow is None or index.generation != cached.generation + 1:
                self._cache = AnswerCache(self.cache_entries)
            else:
                self._cache.drop(narrow, index.changed_rules, index.relabelled, index.rules_by_id)
            self._cached_index = index
            self._position = str(index.position).encode()
        return self._cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(UPDATE_PREFIXES):
            await self.app(scope, receive, send)
        elif scope["method"] == "GET":
            await self._get(scope, receive, send)
        else:
            await self._limited(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = incoming_request_id(scope) or new_request_id()
        status, items = 0, None
        info: dict[str, Any] = {}
        try:
            prepared, position = await self._prepared(scope, info)
            status, items = prepared.status, prepared.log_items
            headers = prepared.headers(position, (b"x-request-id", request_id.encode()))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": prepared.body})
        except Exception as error:
            items = {**(items or {}), "problem": f"{type(error).__name__}: {error}"}
            log.error(
                "request.failed",
                exc_info=True,
                path=scope.get("path", "")[:LOGGED_TARGET_MAX],
                request_id=request_id,
            )
            if status == 0:
                status = await self._fallback(scope, send, request_id)
        finally:
            target = scope.get("raw_path") or b""
            if scope.get("query_string"):
                target += b"?" + scope["query_string"]
            duration = time.perf_counter() - started
            self.request_log.record(request_id, scope["method"], target, status, duration, items)
            if status == 200 and self.sampler is not None and scope["method"] == "GET":
                self.sampler.offer(target)
            try:  # metrics never cost a request its answer
                method = scope["method"]
                record_request("public", route_template(scope, {}), method, status, duration, None)
                record_answer_cache(info.get("answer_cache"), info.get("cache"))
            except Exception as error:
                log.warning("metrics.failed", error=f"{type(error).__name__}: {error}")

    async def _prepared(
        self, scope: Scope, info: dict[str, Any]
    ) -> tuple[PreparedAnswer, bytes]:
        """The answer and the position it holds at; ``info`` learns whether the answer
        came from the cache (and, if not, whether its blobs were in memory)."""
        index = self.endpoint.server.state.index
        cache = self.cache_for(index)
        position = self._position
        key = cache_key(scope) if scope["method"] == "GET" else None
        rng: Dice | None = None
        if key is not None:
            found = cache.get(key)
            if found is not None:
                if cache.labels and found.top_rule in cache.labels:
                    found = cache.fresh(key, found)
                if type(found) is PreparedAnswer:
                    info["answer_cache"] = "hit"
                    return found, position
                roll = roll_dice()  # the roll the evaluation would make (RolledAnswer)
                side = found.side(roll)  # type: ignore[union-attr]
                if side is not None:
                    info["answer_cache"] = "hit"
                    return side, position
                rng = _first_roll(roll)
            info["answer_cache"] = "miss"
        answer, at, cacheable = await self.endpoint.answer(scope, index, info, rng)
        prepared = prepare(answer, self.cache_control, self.tail, live=info.get("live", False))
        if key is not None and cacheable and index is self._cached_index:
            cache.put(key, self._rolled(cache.get(key), answer, prepared))
        return prepared, str(at).encode()

    @staticmethod
    def _rolled(held: Cached | None, answer: Answer, prepared: PreparedAnswer) -> Cached:
        """What the cache keeps of ``answer``: itself, or, when it rolled the dice (once),
        the side of the rate its roll fell on, beside the side ``held`` already."""
        if not answer.rolls:
            return prepared
        rate, roll = answer.rolls[0]
        if not isinstance(held, RolledAnswer) or held.rate != rate:
            held = RolledAnswer(rate)
        return held.with_side(roll, prepared)

    async def _fallback(self, scope: Scope, send: Send, request_id: str) -> int:
        status, content_type, body = fallback_answer(scope.get("path", ""))
        headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", self.cache_control),
            *self.tail,
            (b"x-request-id", request_id.encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return status
