"""Rule matching with Balrog's semantics, as a pure function over compiled rules.

Balrog splits matching between SQL (product, buildTarget, headerArchitecture,
distVersion: equal or NULL) and Python (``RulesTable.getRulesMatchingQuery``).
Here a rule is compiled once (``compile_rule``: expressions pre-split, channel
globs turned into regexes, comma lists into sets) and every request only runs
cheap checks over its product's candidates, in Balrog's order -- the order
matters because some rule values make Balrog fail (a 400 for an unparseable
version operand, a 500 for an expression without operator), and the first
failing rule decides the answer.

Winner: the highest priority; ties go to the lowest rule_id (Balrog's stable
sort over rows read in rule_id order).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rulelog.domain.serving.request import UpdateRequest, fallback_channel
from rulelog.domain.serving.versions import (
    IntExpression,
    StringExpression,
    VersionExpression,
    VersionParser,
    version_parser_for,
)

__all__ = [
    "ChannelPattern",
    "CompiledRule",
    "RuleIndex",
    "channel_matches",
    "compile_rule",
    "matching_rules",
    "may_pass_target_and_channel",
    "os_version_matches",
    "select_rule",
]


class ChannelPattern:
    """A rule channel: exact, or a trailing-``*`` glob of at least 3 chars.

    Only the last ``*`` is a wildcard and only ``.`` is escaped, so other
    regex characters keep their regex meaning (and a broken pattern makes
    Balrog fail when it is tried: the error is kept and raised then).
    """

    __slots__ = ("error", "regex", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.regex: re.Pattern[str] | None = None
        self.error: re.error | None = None
        if source.endswith("*") and len(source) >= 3:
            escaped = source.replace(".", r"\.").replace("*", r"\*", source.count("*") - 1)
            try:
                self.regex = re.compile(f"^{escaped[:-1]}.*$")
            except re.error as exc:
                self.error = exc

    def matches(self, channel: str) -> bool:
        if self.error is not None:
            raise self.error
        if self.regex is not None:
            return self.regex.match(channel) is not None
        if self.source.endswith("*"):
            return False  # "*" and "x*" never match anything
        return self.source == channel

    def matches_request(self, channel: str, fallback: str) -> bool:
        if self.regex is None and self.error is None:  # the common, exact case
            return not self.source.endswith("*") and self.source in (channel, fallback)
        return self.matches(channel) or self.matches(fallback)


@lru_cache(maxsize=1024)
def _channel_pattern(source: str) -> ChannelPattern:
    return ChannelPattern(source)


def channel_matches(pattern: str | None, channel: str, fallback: str | None = None) -> bool:
    """Balrog's ``matchChannel`` for uncompiled patterns (release updateLine)."""
    if pattern is None:
        return True
    compiled = _channel_pattern(pattern)
    if fallback is None:
        fallback = fallback_channel(channel)
    return compiled.matches_request(channel, fallback)


#: Distinct expression texts whose parse is kept (``_parsed``) per kind of expression.
PARSED_MAX = 4096


def _parsed(parse: Callable[[str], Any]) -> Callable[[str | None], Any]:
    """``parse`` of a rule's expression text, None for NULL; each distinct text parsed once.

    Rules repeat their expressions (the bench's 100k generated rules have 71 version texts,
    5 OS texts and 7 channels): compiling them all was 0.85 s of a serving node's
    start, most of it parsing the same texts again. The parsed forms are never
    changed once made, so the rules of one text share one.
    """
    cached = lru_cache(maxsize=PARSED_MAX)(parse)
    return lambda source: None if source is None else cached(source)


def _os_alternatives(source: str) -> tuple[tuple[str, ...], ...]:
    """``a,b&&c`` = a OR (b AND c); parts are stripped, matched as substrings."""
    return tuple(tuple(p.strip() for p in alt.split("&&")) for alt in source.split(","))


_os_expression = _parsed(_os_alternatives)


def os_version_matches(expression: tuple[tuple[str, ...], ...] | None, os_version: str) -> bool:
    if expression is None:
        return True
    return any(all(part in os_version for part in alt) for alt in expression)


def _comma_set(source: str) -> frozenset[str]:
    """Exact comma lists (locale, instructionSet, distribution): no stripping."""
    return frozenset(source.split(","))


_csv = _parsed(_comma_set)
_channel = _parsed(ChannelPattern)
_version = _parsed(VersionExpression)
_string = _parsed(StringExpression)
_int = _parsed(IntExpression)


def _boolean_matches(rule_value: Any, query_value: bool | None) -> bool:
    """A rule value requires the same known value; unknown never matches it."""
    return rule_value is None or (query_value is not None and rule_value == query_value)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule with every expression parsed once; ``rule`` is the original row."""

    rule: Mapping[str, Any]
    rule_id: Any
    priority: Any
    product: str | None
    build_target: str | None
    header_architecture: str | None
    dist_version: str | None
    channel: ChannelPattern | None
    version: VersionExpression | None
    build_id: StringExpression | None
    memory: IntExpression | None
    os_version: tuple[tuple[str, ...], ...] | None
    instruction_set: frozenset[str] | None
    distribution: frozenset[str] | None
    locale: frozenset[str] | None
    mig64: Any
    jaws: Any

    @property
    def data_version(self) -> Any:
        return self.rule.get("data_version")

    @property
    def mapping(self) -> str | None:
        return self.rule.get("mapping")

    @property
    def fallback_mapping(self) -> str | None:
        return self.rule.get("fallbackMapping")

    @property
    def background_rate(self) -> Any:
        return self.rule.get("backgroundRate")

    @property
    def update_type(self) -> Any:
        return self.rule.get("update_type")

    def matches(
        self, request: UpdateRequest, parse: VersionParser, fallback: str | None = None
    ) -> bool:
        """Balrog's checks, in Balrog's order (product is the index's job)."""
        if self.build_target is not None and self.build_target != request.build_target:
            return False
        if self.header_architecture is not None and (
            self.header_architecture != request.header_architecture
        ):
            return False
        if self.dist_version is not None and self.dist_version != request.dist_version:
            return False
        if self.channel is not None and not self.channel.matches_request(
            request.channel, request.fallback_channel if fallback is None else fallback
        ):
            return False
        if self.version is not None and not self.version.matches(request.version, parse):
            return False
        if self.build_id is not None and not self.build_id.matches(request.build_id or ""):
            return False
        memory = request.memory
        if self.memory is not None and memory is not None and not self.memory.matches(memory):
            return False
        if not os_version_matches(self.os_version, request.os_version):
            return False
        if self.instruction_set is not None and request.instruction_set not in self.instruction_set:
            return False
        if self.distribution is not None and request.distribution not in self.distribution:
            return False
        if self.locale is not None and (request.locale or "") not in self.locale:
            return False
        return _boolean_matches(self.mig64, request.mig64) and _boolean_matches(
            self.jaws, request.jaws
        )


def compile_rule(rule: Mapping[str, Any]) -> CompiledRule:
    """Pre-parse a Balrog rule row (absent keys are NULL) for fast matching."""

    def text(key: str) -> str | None:
        value = rule.get(key)
        return None if value is None else str(value)

    return CompiledRule(
        rule=rule,
        rule_id=rule.get("rule_id"),
        priority=rule.get("priority"),
        product=text("product"),
        build_target=text("buildTarget"),
        header_architecture=text("headerArchitecture"),
        dist_version=text("distVersion"),
        channel=_channel(text("channel")),
        version=_version(text("version")),
        build_id=_string(text("buildID")),
        memory=_int(text("memory")),
        os_version=_os_expression(text("osVersion")),
        instruction_set=_csv(text("instructionSet")),
        distribution=_csv(text("distribution")),
        locale=_csv(text("locale")),
        mig64=rule.get("mig64"),
        jaws=rule.get("jaws"),
    )


def matching_rules(
    request: UpdateRequest, candidates: Iterable[CompiledRule]
) -> list[CompiledRule]:
    """Every candidate matching the request, in candidate (rule_id) order."""
    parse = version_parser_for(request.product)
    product, fallback = request.product, request.fallback_channel
    return [
        rule
        for rule in candidates
        if (rule.product is None or rule.product == product)
        and rule.matches(request, parse, fallback)
    ]


def select_rule(matches: Sequence[CompiledRule]) -> CompiledRule | None:
    """Highest priority wins; the stable sort keeps the lowest rule_id on ties."""
    if not matches:
        return None
    return sorted(matches, key=lambda r: r.priority, reverse=True)[0]


#: Candidate lists kept per index: their keys come from requests, so they are bounded.
CACHED_MAX = 4096


def may_pass_target_and_channel(
    rule: CompiledRule, build_target: str, channel: str, fallback: str
) -> bool:
    """Whether ``rule`` can pass the build target and channel checks of ``matches`` -- or
    raise there (a broken channel glob), which must then still happen in order.

    They are the first checks that depend on the request and nothing before them
    raises, so dropping the rules that fail them changes no winner and no error.
    """
    if rule.build_target is not None and rule.build_target != build_target:
        return False
    pattern = rule.channel
    if pattern is None or pattern.error is not None:
        return True
    return pattern.matches_request(channel, fallback)


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> Any:
    if len(cache) >= CACHED_MAX:
        cache.clear()
    cache[key] = value
    return value


class RuleIndex:
    """Compiled rules grouped by product, each group in rule_id order.

    A request only looks at rules for its product plus product-less rules
    (``candidates``), or only at those of them whose build target and channel
    checks can pass (``narrowed``, where matching spends its time); both lists
    are built once per key and reused.
    """

    def __init__(self, rules: Iterable[Mapping[str, Any]]) -> None:
        self._group([compile_rule(r) for r in rules])

    @classmethod
    def revised(cls, previous: RuleIndex, rules: Iterable[Mapping[str, Any]]) -> RuleIndex:
        """The index of ``rules``, compiling only the rows ``previous`` did not index.

        A row ``previous`` compiled (the very object: rows are never mutated once
        indexed) is reused as it was, so a new generation after a few edits compiles
        those few rows, not the whole table (at 100k rules: 45 ms rather than 620).
        """
        known = {id(r.rule): r for r in previous._compiled}
        compiled = []
        for row in rules:
            found = known.get(id(row))
            compiled.append(found if found is not None and found.rule is row else compile_rule(row))
        index = cls.__new__(cls)
        index._group(compiled)
        return index

    def _group(self, compiled: list[CompiledRule]) -> None:
        compiled.sort(key=lambda r: r.rule_id)
        self._compiled = compiled
        self.count = len(compiled)
        self._generic = tuple(r for r in compiled if r.product is None)
        self._by_product: dict[str, list[CompiledRule]] = {}
        for rule in compiled:
            if rule.product is not None:
                self._by_product.setdefault(rule.product, []).append(rule)
        self._merged: dict[str, tuple[CompiledRule, ...]] = {}
        self._narrowed: dict[tuple[str, str, str], tuple[CompiledRule, ...]] = {}

    def candidates(self, product: str) -> tuple[CompiledRule, ...]:
        """Rules for ``product`` plus product-less ones, in rule_id order."""
        merged = self._merged.get(product)
        if merged is None:
            rules = [*self._by_product.get(product, ()), *self._generic]
            merged = tuple(sorted(rules, key=lambda r: r.rule_id))
            _remember(self._merged, product, merged)
        return merged

    def narrowed(self, product: str, channel: str, build_target: str) -> tuple[CompiledRule, ...]:
        """The candidates that may match a request of this shape (same winner, same errors)."""
        key = (product, channel, build_target)
        found = self._narrowed.get(key)
        if found is None:
            fallback = fallback_channel(channel)
            found = tuple(
                r
                for r in self.candidates(product)
                if may_pass_target_and_channel(r, build_target, channel, fallback)
            )
            _remember(self._narrowed, key, found)
        return found
