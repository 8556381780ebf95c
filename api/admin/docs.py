"""``/api/docs``: Swagger UI over the admin API's OpenAPI document, from this server only.

FastAPI's default page loads Swagger UI from a CDN and starts it with an
inline script; the admin app's Content-Security-Policy (``default-src
'none'``) blocks both. This page loads Swagger UI's files from the installed
``fastapi-offline`` package (Swagger UI 5: OpenAPI 3.1) and starts it from a file of the console's
static folder, under a policy that allows exactly that (Swagger UI sets
inline styles, and its icons are data: URLs).
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["CSP", "install"]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"
)

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="icon" href="/ui/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi="{openapi}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="/ui/static/swagger-init.js"></script>
</body>
</html>
"""


def install(app: FastAPI, docs_url: str, openapi_url: str) -> None:
    """Serve the page at ``docs_url`` and Swagger UI's files under ``docs_url``/assets."""
    assets = f"{docs_url}/assets"
    static = resources.files("fastapi_offline") / "static"
    app.mount(assets, StaticFiles(directory=str(static)), name="swagger-ui")
    html = PAGE.format(title=f"{app.title} - docs", assets=assets, openapi=openapi_url)

    async def docs(request: Request) -> HTMLResponse:
        return HTMLResponse(html, headers={"content-security-policy": CSP})

    app.add_route(docs_url, docs, include_in_schema=False)
