"""Every stored event can be decoded by a process that opened only the application.

Event classes are found by their fixed ``TOPIC`` strings, registered when their
module is imported. A module imported only by one command (the Balrog import's
marks, say) would leave a fresh server process unable to decode that command's
events: it would fail to load a store it did not write. The application module
imports every aggregate module, and this test checks that in a clean interpreter.
"""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import importlib, pkgutil
import eventsourcing.utils as u
import rulelog.services.application
opened = set(u._topic_cache)
import rulelog.domain
for info in pkgutil.walk_packages(rulelog.domain.__path__, "rulelog.domain."):
    importlib.import_module(info.name)
every = {t for t in u._topic_cache if t.startswith("rulelog:")}
print(sorted(every - opened))
print(len(every))
"""


def test_opening_the_application_registers_every_domain_topic() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    ).stdout.splitlines()
    assert out[0] == "[]", f"topics only known after importing more of the domain: {out[0]}"
    assert int(out[1]) > 50  # the probe saw the domain's topics at all
