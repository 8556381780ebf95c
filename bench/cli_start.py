"""How long the ``rulelog`` command takes to start, next to ``python -c pass``.

Runs each command N times (alternating, so load affects all alike) and prints
the median wall time, and the difference from the baseline: the interpreter
starting and exiting (``python -c pass``, same interpreter, same run). The
store command runs against a demo store made in a temporary directory.

    .venv/bin/python bench/cli_start.py [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
RULELOG = str(BIN / "rulelog")


def timed(argv: list[str], cwd: str) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="rulelog-bench-") as folder:
        subprocess.run([RULELOG, "demo"], cwd=folder, check=True, stdout=subprocess.DEVNULL)
        commands = {
            "python -c pass (baseline)": [sys.executable, "-c", "pass"],
            "rulelog --version": [RULELOG, "--version"],
            "rulelog --help": [RULELOG, "--help"],
            "rulelog config": [RULELOG, "config"],
            "rulelog rules list (demo store)": [RULELOG, "rules", "list"],
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, argv in commands.items():
                samples[name].append(timed(argv, folder))
    base = statistics.median(samples["python -c pass (baseline)"])
    print(f"{'command':34} {'median s':>9} {'minus baseline s':>17}  ({runs} runs each)")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:34} {median:9.3f} {median - base:17.3f}")


if __name__ == "__main__":
    main()
