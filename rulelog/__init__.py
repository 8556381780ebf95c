"""rulelog: an event-sourced update-rules engine and update server, compatible with Balrog.

The repository keeps its layers as top-level folders (``domain/``, ``projections/``,
``services/``, ``adapters/``, ``api/``); ``pyproject.toml`` installs them under this
package (``rulelog.domain`` ...), so installing rulelog adds one importable name to
site-packages instead of several generic ones that could collide with others.
"""

from __future__ import annotations

import pkgutil

# When run from a checkout that is on sys.path (python -m rulelog from the repository),
# this folder is found before the installed package: extending the path lets the
# installed copy's subpackages (rulelog.domain, ...) still be found.
__path__ = pkgutil.extend_path(__path__, __name__)
