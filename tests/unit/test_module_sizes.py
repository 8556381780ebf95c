"""No module outside the tests is over 500 lines.

A module that keeps growing is one that has started to hold two concerns; the
limit makes the split happen when the second concern arrives, not after the
module has become the place everything goes (issue #11). The blob JSON
schemas are data, not code, and are not Python files.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MOST_LINES = 500


def _tracked_modules() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if listed.returncode == 0 and listed.stdout.strip():
        names = listed.stdout.split()
    else:  # not a git checkout (an unpacked sdist): every module on disk
        names = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py") if ".venv" not in p.parts]
    return [ROOT / n for n in names if not n.startswith("tests/")]


def test_no_module_outside_the_tests_is_over_500_lines() -> None:
    modules = _tracked_modules()
    assert modules, "no modules found"
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in modules
        if path.exists() and (lines := len(path.read_text().splitlines())) > MOST_LINES
    }
    assert not too_long, f"modules over {MOST_LINES} lines (split them by concern): {too_long}"
