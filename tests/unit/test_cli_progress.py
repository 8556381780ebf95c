"""``import-balrog``'s progress: a bar per table, each on its own line with its own count.

The bars are drawn into a terminal stand-in that follows the cursor movements
and carriage returns they write, so the test reads the screen a person would see.
"""

from __future__ import annotations

import io
import re

from rulelog.api.cli.progress import TableBars

_ESCAPE = re.compile(r"\x1b\[(\?25[lh]|\d+[AB])")


class Terminal(io.StringIO):
    """A terminal's screen: lines of text, a cursor that ``\\r``, ``\\n`` and the
    up/down escapes move, and text written over what is under the cursor."""

    def isatty(self) -> bool:
        return True

    def screen(self) -> list[str]:
        lines, row, col = [""], 0, 0
        text = self.getvalue()
        at = 0
        while at < len(text):
            escape = _ESCAPE.match(text, at)
            if escape:
                code = escape.group(1)
                if code.endswith("A"):
                    row -= int(code[:-1])
                elif code.endswith("B"):
                    row += int(code[:-1])
                at = escape.end()
                continue
            char = text[at]
            at += 1
            if char == "\r":
                col = 0
            elif char == "\n":
                row, col = row + 1, 0
            else:
                while len(lines) <= row:
                    lines.append("")
                line = lines[row].ljust(col)
                lines[row] = line[:col] + char + line[col + 1 :]
                col += 1
            while len(lines) <= row:
                lines.append("")
        return [line.rstrip() for line in lines]


def test_each_table_has_its_own_line_with_its_own_count_and_total() -> None:
    screen = Terminal()
    with TableBars({"rules": 4, "permissions": 2, "releases": 0}, screen) as bars:
        bars.update("rules", 1)
        bars.update("permissions", 1)
        bars.update("rules", 2)
        bars.update("releases_json", 3)  # no total known: a line of its own below
        shown = [line for line in screen.screen() if line]
    assert [line.split()[0] for line in shown] == ["rules", "permissions", "releases_json"]
    assert shown[0].endswith("3/4")
    assert shown[1].endswith("1/2")
    assert shown[2].endswith("3")
    # The cursor is below every bar when they are done: what follows starts a line.
    screen.write("summary\n")
    assert screen.screen()[-2:] == ["summary", ""]
