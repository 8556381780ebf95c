"""The public, Balrog-compatible update server (``serve public``).

The path of an update request, one module a step: ``front`` (the outermost
ASGI callable: answer cache, headers, log line) → ``updates`` (the raw target
parsed, refusals worded) → ``server`` (evaluated over the live index, blobs
loaded off the event loop) → ``front.prepare`` (written). Beside it:
``api_v1`` (Balrog's read-only ``/api/v1``), ``dockerflow`` (heartbeats,
version, robots, metrics), ``middleware`` (request ids, log lines, never a
500), ``responses`` (Balrog's JSON and problem shapes), ``settings``; ``app``
puts them together. Modules import downward only: no cycle.
"""

from rulelog.api.public.app import create_app_from_env, create_public_app
from rulelog.api.public.server import PublicServer
from rulelog.api.public.settings import PublicSettings

__all__ = ["PublicServer", "PublicSettings", "create_app_from_env", "create_public_app"]
