"""Balrog's read-only public API (``/api/v1/...``), served from the live index.

Shapes follow ``auslib/web/common`` (written as ``api.public.responses`` says):
``jsonify`` for lists; ``json.dumps`` of the row, in column order, for single
rules and shutoffs; sorted keys for releases and pins;
``X-Data-Version`` on single objects; connexion's problem documents for 404s
and for query parameters the spec does not declare (Balrog validates
strictly). Every answer comes from the serving process's own index, so the
API and the update answers of one process always agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import rulelog.api.url_ids  # noqa: F401 (registers the {name:id} path convertor)
from rulelog.api.public.responses import JSON, dumps, flask_json, problem
from rulelog.projections.release_summaries import release_summary, rules_by_release
from rulelog.projections.revisions import balrog_rule
from rulelog.projections.serving import LiveIndex

if TYPE_CHECKING:
    from rulelog.api.public.server import PublicServer

__all__ = ["PublicApi", "ordered_rules", "release_summaries"]

RELEASE_NAME_MAX = 100


def _undeclared(request: Request, declared: Iterable[str]) -> Response | None:
    """Balrog runs connexion with strict validation: unknown query options are a 400."""
    extra = sorted(set(request.query_params.keys()) - set(declared))
    if extra:
        return problem(400, None, f"Extra query parameter(s) {', '.join(extra)} not in spec")
    return None


def _positive(request: Request, name: str, default: int) -> int | Response:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        return problem(400, None, f"'{text}' is not of type 'integer'")
    if value < 1:
        return problem(400, None, f"{value} is less than the minimum of 1")
    return value


def _nulls_first(value: Any) -> tuple[bool, Any]:
    return (value is not None, value)


def ordered_rules(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Balrog's ``getOrderedRules``: priority, version, mapping ascending (NULLs first)."""
    return sorted(
        rows,
        key=lambda r: (
            _nulls_first(r.get("priority")),
            _nulls_first(r.get("version")),
            _nulls_first(r.get("mapping")),
            r["rule_id"],
        ),
    )


def release_summaries(index: LiveIndex) -> list[dict[str, Any]]:
    """Releases as Balrog's ``getReleaseInfo`` lists them, by name."""
    mapped = rules_by_release(index.rules_by_id.values())
    return [
        release_summary(name, index.releases[name], mapped.get(name, ()))
        for name in sorted(index.releases)
    ]


class PublicApi:
    """The ``/api/v1`` endpoints over one server's current index."""

    def __init__(self, server: PublicServer) -> None:
        self.server = server

    def routes(self) -> list[Route]:
        get = ["GET"]
        return [
            Route("/api/v1/rules", self.rules, methods=get),
            Route("/api/v1/rules/{rule_id:id}/revisions", self.revisions, methods=get),
            Route("/api/v1/rules/{id_or_alias}", self.rule, methods=get),
            Route("/api/v1/releases", self.releases, methods=get),
            Route("/api/v1/releases/{release}", self.release, methods=get),
            Route(
                "/api/v1/releases/{release}/builds/{platform}/{locale}",
                self.single_locale,
                methods=get,
            ),
            Route("/api/v1/emergency_shutoff", self.shutoffs, methods=get),
            Route("/api/v1/emergency_shutoff/{product}/{channel}", self.shutoff, methods=get),
            Route("/api/v1/pins/{product}/{channel}/{version}", self.pin, methods=get),
        ]

    @property
    def index(self) -> LiveIndex:
        return self.server.state.index

    async def rules(self, request: Request) -> Response:
        if refused := _undeclared(request, ("product",)):
            return refused
        product = request.query_params.get("product")
        rows = [
            balrog_rule(dict(r))
            for r in self.index.rules_by_id.values()
            if not product or r.get("product") == product
        ]
        return flask_json({"count": len(rows), "rules": ordered_rules(rows)})

    async def rule(self, request: Request) -> Response:
        if refused := _undeclared(request, ()):
            return refused
        row = self.index.rule(request.path_params["id_or_alias"])
        if row is None:
            return problem(
                404,
                "Not Found",
                "Requested rule wasn't found",
                exception="Requested rule does not exist",
            )
        rule = balrog_rule(dict(row))
        headers = {"X-Data-Version": str(rule["data_version"])}
        return Response(json.dumps(rule), 200, headers, media_type=JSON)

    async def revisions(self, request: Request) -> Response:
        if refused := _undeclared(request, ("page", "limit")):
            return refused
        page, limit = _positive(request, "page", 1), _positive(request, "limit", 10)
        if isinstance(page, Response):
            return page
        if isinstance(limit, Response):
            return limit
        rule_id = request.path_params["rule_id"]
        if rule_id not in self.index.rules_by_id:
            return Response("Requested rule does not exist", 404, media_type="text/html")
        state = self.server.state
        revisions = state.change_ids.rows("rules", state.revisions.of(rule_id))
        offset = limit * (page - 1)
        return flask_json({"rules": revisions[offset : offset + limit], "count": len(revisions)})

    async def releases(self, request: Request) -> Response:
        if refused := _undeclared(request, ("product", "name_prefix", "names_only")):
            return refused
        product = request.query_params.get("product")
        prefix = request.query_params.get("name_prefix")
        rows = [
            r
            for r in release_summaries(self.index)
            if (not product or r["product"] == product)
            and (not prefix or r["name"].startswith(prefix))
        ]
        if request.query_params.get("names_only"):
            return flask_json({"names": [r["name"] for r in rows]})
        return flask_json({"releases": rows})

    async def _blob(self, name: str) -> tuple[Mapping[str, Any] | None, int | None]:
        """A release's blob and data_version from this generation (loaded off the loop)."""
        index = self.index
        row = index.releases.get(name)
        if row is None:
            return None, None
        data = index.blobs.get(name, row["version"])
        if data is None:
            data = await anyio.to_thread.run_sync(index.blobs.load, name, row["version"])
        return data, row["data_version"]

    async def release(self, request: Request) -> Response:
        if refused := _undeclared(request, ("pretty",)):
            return refused
        name = request.path_params["release"]
        if len(name) > RELEASE_NAME_MAX:
            return problem(400, None, f"'{name}' is too long")
        data, data_version = await self._blob(name)
        if data is None:
            return problem(404, "Not Found", f"Release name: {name} not found")
        body = dumps(data, sort_keys=True, pretty=bool(request.query_params.get("pretty")))
        return Response(body, 200, {"X-Data-Version": str(data_version)}, media_type=JSON)

    async def single_locale(self, request: Request) -> Response:
        if refused := _undeclared(request, ()):
            return refused
        name = request.path_params["release"]
        platform, locale = request.path_params["platform"], request.path_params["locale"]
        data, data_version = await self._blob(name)
        if data is None:
            missing = f"Couldn't find release with name '{name}'"
            return problem(404, "Not Found", json.dumps([missing]))
        try:
            locale_data = data["platforms"][platform]["locales"][locale]
        except (KeyError, TypeError) as error:
            return problem(404, "Not Found", json.dumps([str(a) for a in error.args]))
        headers = {"X-Data-Version": str(data_version)}
        return Response(json.dumps(locale_data), 200, headers, media_type=JSON)

    async def shutoffs(self, request: Request) -> Response:
        if refused := _undeclared(request, ()):
            return refused
        rows = [_shutoff(self.index.shutoffs[k]) for k in sorted(self.index.shutoffs)]
        return flask_json({"count": len(rows), "shutoffs": rows})

    async def shutoff(self, request: Request) -> Response:
        if refused := _undeclared(request, ()):
            return refused
        key = (request.path_params["product"], request.path_params["channel"])
        row = self.index.shutoffs.get(key)
        if row is None:
            return problem(
                404,
                "Not Found",
                "Requested emergency shutoff wasn't found",
                exception="Requested shutoff does not exist",
            )
        shutoff = _shutoff(row)
        headers = {"X-Data-Version": str(shutoff["data_version"])}
        return Response(json.dumps(shutoff), 200, headers, media_type=JSON)

    async def pin(self, request: Request) -> Response:
        if refused := _undeclared(request, ("pretty",)):
            return refused
        product, channel = request.path_params["product"], request.path_params["channel"]
        version = request.path_params["version"]
        row = self.index.pins.get((product, channel, version))
        if row is None:
            detail = (
                f"Pin for Product='{product}', Channel='{channel}', Version='{version}' not found"
            )
            return problem(404, "Not Found", detail)
        pin = {
            "mapping": row["mapping"],
            "data_version": row["data_version"],
            "product": product,
            "channel": channel,
            "version": version,
        }
        body = dumps(pin, sort_keys=True, pretty=bool(request.query_params.get("pretty")))
        return Response(body, 200, {"X-Data-Version": str(pin["data_version"])}, media_type=JSON)


def _shutoff(row: Mapping[str, Any]) -> dict[str, Any]:
    """Balrog's ``emergency_shutoffs`` columns, in order."""
    return {
        "product": row["product"],
        "channel": row["channel"],
        "comment": row.get("comment"),
        "data_version": row["data_version"],
    }
