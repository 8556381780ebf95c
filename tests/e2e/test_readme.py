"""The README's shell blocks, run in order on a fresh copy of the repository.

Conventions (also in the README's "Contributing" section):

* Every fenced block tagged ``sh``, ``bash`` or ``shell`` is run, in order,
  by bash with ``set -euo pipefail``, in one fresh copy of the repository's
  tracked files whose ``.venv`` is a link to this one (nothing is installed).
  Before the first block the runner does what ``make run`` does before it
  serves: ``rulelog demo``.
* Variables persist from block to block (as if pasted into one terminal).
* A command started in the background (``&``) keeps running until the
  runner ends, then its process group is stopped.
* Ports 8000 and 8001 are replaced by free ports, so the runner never
  collides with a server already running on the machine.
* A line ending in ``# prints: TEXT`` asserts that the block's output
  contains ``TEXT``.
* The rare block that cannot run here is preceded by
  ``<!-- readme-runner: skip (REASON) -->``; an unmarked block that fails,
  fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
SKIP = re.compile(r"<!--\s*readme-runner:\s*skip\s*\(([^)]+)\)\s*-->\s*$")
PRINTS = re.compile(r"#\s*prints:\s*(.+?)\s*$", re.M)
SHELLS = ("sh", "bash", "shell")
BLOCK_TIMEOUT = 300


@dataclass
class Block:
    line: int
    text: str
    skip: str | None


def shell_blocks(markdown: str) -> list[Block]:
    """Every shell block, with the reason it is skipped if it is marked."""
    blocks = []
    for match in FENCE.finditer(markdown):
        if match.group(1) not in SHELLS:
            continue
        before = markdown[: match.start()].rstrip("\n").splitlines()
        marker = SKIP.search(before[-1]) if before else None
        line = markdown.count("\n", 0, match.start()) + 1
        blocks.append(Block(line, match.group(2), marker.group(1) if marker else None))
    return blocks


def test_shell_blocks_are_found_and_skips_give_reasons() -> None:
    sample = (
        "```sh\necho one\n```\n\n<!-- readme-runner: skip (needs docker) -->\n"
        "```sh\ndocker build .\n```\n```\nnot shell\n```\n"
    )
    found = shell_blocks(sample)
    assert [(b.text, b.skip) for b in found] == [
        ("echo one\n", None),
        ("docker build .\n", "needs docker"),
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _fresh_copy(into: Path) -> Path:
    """The tracked files as they are in the working tree, plus a link to the venv."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    copy = into / "rulelog"
    for raw in filter(None, listed):
        name = raw.decode()
        source = ROOT / name
        if source.is_file():
            target = copy / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (copy / ".venv").symlink_to(VENV, target_is_directory=True)
    return copy


class Runner:
    """One simulated terminal: blocks run in order, sharing variables."""

    def __init__(self, workdir: Path, ports: dict[str, str]) -> None:
        self.workdir = workdir
        self.ports = ports
        self.state = workdir.parent / "readme-state.sh"
        self.state.write_text("")
        self.groups: list[int] = []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("RULELOG_")}
        self.env["PATH"] = f"{VENV / 'bin'}:{self.env.get('PATH', '')}"

    def run(self, text: str) -> subprocess.CompletedProcess[str]:
        for port, free in self.ports.items():
            text = text.replace(port, free)
        script = (
            f"set -a\nsource {self.state}\nset -euo pipefail\n{text}\n"
            f"set +u\nexport -p > {self.state}\n"
        )
        # Output goes to a file, not a pipe: a server the block leaves running in the
        # background keeps its stdout open, and the block is over when bash exits.
        log = self.workdir.parent / f"readme-block-{len(self.groups)}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                ["bash", "-c", script],
                cwd=self.workdir,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, with anything it backgrounds
            )
            self.groups.append(process.pid)
            try:
                process.wait(timeout=BLOCK_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.stop()
                process.wait()
        text = log.read_text(errors="replace")
        return subprocess.CompletedProcess(process.args, process.returncode, text, "")

    def stop(self) -> None:
        for group in self.groups:
            try:
                os.killpg(group, signal.SIGINT)
            except ProcessLookupError:
                continue
        for group in self.groups:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                continue


def test_every_readme_shell_block_runs_in_order(tmp_path: Path) -> None:
    workdir = _fresh_copy(tmp_path)
    runner = Runner(workdir, {"8000": str(_free_port()), "8001": str(_free_port())})
    try:
        setup = runner.run(".venv/bin/rulelog demo >/dev/null")
        assert setup.returncode == 0, setup.stdout
        blocks = shell_blocks((workdir / "README.md").read_text())
        assert len([b for b in blocks if b.skip is None]) >= 5
        for block in blocks:
            if block.skip is not None:
                continue
            result = runner.run(block.text)
            assert result.returncode == 0, (
                f"README.md line {block.line}: block exited {result.returncode}:\n"
                f"{block.text}\n--- output ---\n{result.stdout[-4000:]}"
            )
            for expected in PRINTS.findall(block.text):
                assert expected in result.stdout, (
                    f"README.md line {block.line}: {expected!r} not printed:\n"
                    f"{result.stdout[-4000:]}"
                )
    finally:
        runner.stop()


@pytest.mark.parametrize("reason", ["needs docker", "runs for minutes"])
def test_skip_marker_needs_its_reason_on_the_line_before(reason: str) -> None:
    marked = f"<!-- readme-runner: skip ({reason}) -->\n```sh\nfalse\n```\n"
    assert shell_blocks(marked)[0].skip == reason
    assert shell_blocks("<!-- readme-runner: skip -->\n```sh\nfalse\n```\n")[0].skip is None
