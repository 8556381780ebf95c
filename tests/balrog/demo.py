"""Build a small Balrog database with a history (every table, every kind of change),
and releases written through its admin API v2 (split into base and locale rows).

    .venv/bin/python -m tests.balrog.demo sqlite:////tmp/balrog-demo.db

The database must not exist yet (a MySQL/MariaDB URL names an empty database).
"""

from __future__ import annotations

import argparse

from tests.balrog.scenarios import build_full_history, build_v2_releases
from tests.balrog.writer import BalrogWriter, create_balrog_db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="SQLAlchemy URL of the new Balrog database")
    url = parser.parse_args().url
    writer = BalrogWriter(create_balrog_db(url))
    moments = build_full_history(writer)
    moments |= build_v2_releases(writer)
    print(f"built {url}; times of note (ms): {moments}")


if __name__ == "__main__":
    main()
