"""Progress of a long command, one ``click.progressbar`` line per part (on stderr).

``click.progressbar`` draws its bar over the current line. ``TableBars`` gives each
part (a Balrog table, for ``import-balrog``) a bar of its own on a line of its own:
the bars' lines are kept above the cursor, and each bar writes through a
``_Line`` that moves up to its line, lets click draw, and comes back down. A part
that shows up without a known total gets a bar of unknown length below the others.
"""

from __future__ import annotations

import itertools
from contextlib import ExitStack
from types import TracebackType
from typing import Any, TextIO

import click

#: The ANSI escapes that move the cursor up or down ``n`` lines.
_UP, _DOWN = "\033[{}A", "\033[{}B"


class _Line:
    """A file for one bar: writes land on the bar's own line (newlines are dropped:
    every bar already has its line)."""

    def __init__(self, bars: TableBars, index: int) -> None:
        self.bars = bars
        self.index = index

    def write(self, text: str) -> int:
        text = text.replace("\n", "")
        if text:
            up = len(self.bars.order) - self.index
            self.bars.file.write(_UP.format(up) + text + "\r" + _DOWN.format(up))
        return len(text)

    def flush(self) -> None:
        self.bars.file.flush()

    def isatty(self) -> bool:
        return self.bars.file.isatty()


class TableBars:
    """A ``click.progressbar`` per part, each with its own count out of its own total."""

    def __init__(self, totals: dict[str, int], file: TextIO, width: int = 40) -> None:
        self.file = file
        self.width = max([width, *map(len, totals)])
        self.order: list[str] = []
        self._bars: dict[str, Any] = {}
        self._stack = ExitStack()
        self._totals = {name: n for name, n in totals.items() if n}

    def __enter__(self) -> TableBars:
        for name, total in self._totals.items():
            self._open(name, total)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType
    ) -> None:
        self._stack.__exit__(kind, error, tb)

    def _open(self, name: str, total: int | None) -> Any:
        self.file.write("\n")  # the bar's line; the cursor stays below every bar
        self.order.append(name)
        line: Any = _Line(self, len(self.order) - 1)
        label = f"{name:<{self.width}}"
        if total is None:
            bar = click.progressbar(itertools.repeat(None), label=label, file=line, show_pos=True)
        else:
            bar = click.progressbar(length=total, label=label, file=line, show_pos=True)
        self._bars[name] = self._stack.enter_context(bar)
        return self._bars[name]

    def update(self, name: str, n: int) -> None:
        """``n`` more rows of ``name`` done."""
        bar = self._bars.get(name) or self._open(name, None)
        bar.update(n)
