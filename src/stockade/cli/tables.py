"""Fit a table to the terminal: what names a row prints whole, the rest makes room.

Every table the CLI prints is a `Sheet`: its columns say which of them identify a row
(`essential`: whole, on one line, never dropped), which may fold onto more lines (`wrap`),
which may be shortened (`cap`) and in what order the others leave (`priority`) when the
rows are wider than the terminal. `fit` decides all of that without a console, so it can be
tested; rich only lays out the widths it is given.
"""

import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import IO

from rich.cells import cell_len
from rich.console import Console, JustifyMethod, RenderableType
from rich.segment import Segment, Segments
from rich.table import Table
from rich.text import Text

GAP = 2  # padding (0, 1) without edge padding: one space each side of an inner boundary
WRAP_FLOOR = 10  # a folding column narrower than this reads as a column of fragments

Cell = str | Text


@dataclass(frozen=True)
class Column:
    """How one column gives way when the rows are wider than the terminal.

    essential: printed whole on one line and never dropped (the handle, the name).
    priority:  the rest stay by importance, the highest first (on a tie, the one further
               left) while the table fits, so none outlives a more important one; None
               never leaves, for a column without which a row would say something else.
    wrap:      may fold onto more lines, down to WRAP_FLOOR cells, so it counts at that
               width when deciding what stays; the least important folds first.
    cap:       unless --no-trunc, a longer value is cut to this many cells, marked with an
               ellipsis, or not (`ellipsis=False`) for an ID prefix that should still paste;
               an essential column ignores it.
    """

    header: str
    essential: bool = False
    priority: int | None = 0
    wrap: bool = False
    cap: int | None = None
    ellipsis: bool = True
    justify: JustifyMethod = "left"

    @property
    def folds(self) -> bool:
        return self.wrap and not self.essential  # an essential column prints whole


@dataclass(frozen=True)
class Sheet:
    """A table to print: columns, rows of plain strings or styled Text, and a title."""

    columns: Sequence[Column]
    rows: Sequence[Sequence[Cell]]
    title: str | None = None
    title_justify: JustifyMethod = "center"


@dataclass(frozen=True)
class Fitted:
    """The columns kept (and their indexes), each one's width, the cells as they print."""

    kept: tuple[int, ...]
    columns: tuple[Column, ...]
    widths: tuple[int, ...]
    rows: tuple[tuple[Text, ...], ...]

    @property
    def width(self) -> int:
        return _total(self.widths, range(len(self.widths)))


def _text(cell: Cell) -> Text:
    # Text, not a str, so a value such as "[red]" prints as written instead of as markup;
    # tabs expanded so that the width measured here is the width printed.
    text = Text(cell) if isinstance(cell, str) else cell.copy()
    text.expand_tabs()
    return text


def _lines(text: Text) -> list[Text]:
    return list(text.split("\n", allow_blank=True))


def _cut(text: Text, column: Column) -> Text:
    if column.cap is None or column.essential:  # an essential value prints whole
        return text
    lines = _lines(text)
    for line in lines:
        line.truncate(column.cap, overflow="ellipsis" if column.ellipsis else "crop")
    return Text("\n").join(lines)


def _cells(text: Text) -> int:
    return max((line.cell_len for line in _lines(text)), default=0)


def _total(widths: Sequence[int], kept: Collection[int]) -> int:
    return sum(widths[i] for i in kept) + GAP * max(len(kept) - 1, 0)


def fit(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int | None,
        no_trunc: bool = False) -> Fitted:
    """Which columns to keep and how wide, for rows printed in `width` cells.

    `width` None means as wide as the rows need; `no_trunc` keeps every value whole and
    every column, however long the line gets.
    """
    texts = [[_text(cell) for cell in row] for row in rows]
    if not no_trunc:
        texts = [[_cut(text, column) for text, column in zip(row, columns, strict=True)]
                 for row in texts]
    natural = [max([cell_len(column.header), *(_cells(row[i]) for row in texts)])
               for i, column in enumerate(columns)]
    widths = list(natural)
    kept = list(range(len(columns)))
    if width is not None and not no_trunc:
        floors = [_floor(column, natural[i], [row[i] for row in texts]) if column.folds
                  else natural[i] for i, column in enumerate(columns)]
        kept = _squeeze(columns, floors, widths, width)
    return Fitted(tuple(kept), tuple(columns[i] for i in kept), tuple(widths[i] for i in kept),
                  tuple(tuple(row[i] for i in kept) for row in texts))


def _floor(column: Column, natural: int, cells: list[Text]) -> int:
    """How narrow a folding column may get: its header, and words of up to twice the
    floor kept whole ("8000->80/tcp," reads, "8000->80/tc" over "p," does not)."""
    words = (cell_len(word) for text in cells for word in text.plain.split())
    longest = min(max(words, default=0), 2 * WRAP_FLOOR)
    return min(natural, max(cell_len(column.header), WRAP_FLOOR, longest))


def _narrow(widths: list[int], folding: list[int], floors: list[int], cells: int) -> None:
    """Take `cells` from the widest of `folding` first, down to each one's floor.

    Columns of equal rank so end up about as wide as each other, rather than one squeezed
    to its floor while the next stays whole. Steps go level to level, not cell by cell,
    since a value may be many thousand cells long.
    """
    while cells > 0:
        wide = [i for i in folding if widths[i] > floors[i]]
        if not wide:
            return
        top = max(widths[i] for i in wide)
        tops = [i for i in wide if widths[i] == top]
        level = max([widths[i] for i in wide if widths[i] < top] + [floors[i] for i in tops])
        step = min(top - level, cells // len(tops))
        if step == 0:  # fewer cells than columns at the top: one each, from the right
            for i in sorted(tops, reverse=True)[:cells]:
                widths[i] -= 1
            return
        for i in tops:
            widths[i] -= step
        cells -= step * len(tops)


def _squeeze(columns: Sequence[Column], floors: list[int], widths: list[int],
             width: int) -> list[int]:
    """Narrow `widths` (each no further than `floors`) in place; the columns that stay.

    Columns stay strictly by importance: the most important droppable ones join the
    essential and never-dropped columns for as long as the table, each folding column at
    its floor, still fits; so a column never outlives a more important one. Then the
    folding columns give up just the cells needed, the least important rank first.
    """
    kept = {i for i, column in enumerate(columns)
            if column.essential or column.priority is None}
    droppable = sorted((i for i in range(len(columns)) if i not in kept),
                       key=lambda i: (-(columns[i].priority or 0), i))  # tie: left stays
    for i in droppable:
        if _total(floors, kept | {i}) > width:
            break
        kept.add(i)
    folding = [i for i in kept if columns[i].folds]
    for rank in sorted({_rank(columns[i]) for i in folding}):
        group = [i for i in folding if _rank(columns[i]) == rank]
        _narrow(widths, group, floors, _total(widths, kept) - width)
    return sorted(kept)


def _rank(column: Column) -> tuple[bool, int]:
    """Sorts the least important first, and a column that never leaves after the rest."""
    return column.priority is None, column.priority or 0


def fit_sheet(sheet: Sheet, width: int | None, no_trunc: bool = False) -> tuple[Table, int]:
    """The rich table for `sheet` fitted to `width`, and the cells it takes."""
    fitted = fit(sheet.columns, sheet.rows, width, no_trunc)
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1),
                  title=sheet.title, title_justify=sheet.title_justify)
    for column, cells in zip(fitted.columns, fitted.widths, strict=True):
        # Fixed widths: rich must not shrink or spread the columns fit() has measured.
        table.add_column(column.header, width=cells, no_wrap=not column.folds,
                         overflow="fold", justify=column.justify)
    for row in fitted.rows:
        table.add_row(*row)
    return table, fitted.width


def available_width(console: Console) -> int | None:
    """The cells a table may take on this console; None: as many as its rows need.

    COLUMNS, when set, is a request for that width (rich reads it); a terminal has its own
    width. Anything else is a pipe or a file: rows print whole there, as `docker ps` prints
    them, so grep, awk and cut see every column, whatever the width of the terminal the
    pipeline runs in (scripts that want the data use --json).
    """
    if console.is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return console.width
    return None


def print_wide(console: Console, renderable: RenderableType, cells: int) -> None:
    """Print `renderable` laid out `cells` wide, even on a narrower console.

    Laid out at the console's width, rich would squeeze the columns fit() has measured
    again; a row that must outgrow the terminal (essential columns, --no-trunc) is left
    for the terminal to wrap rather than cut here.
    """
    options = console.options.update_width(max(cells, 1))
    segments: list[Segment] = []
    for line in console.render_lines(renderable, options, pad=False):
        segments += _rstrip(line)
        segments.append(Segment.line())
    console.print(Segments(segments), crop=False)


def _rstrip(line: list[Segment]) -> list[Segment]:
    # Cells are padded to their column's width; the padding after a row's last value is
    # noise to cut, diff and copy-paste (docker ps ends its lines at the last value too).
    line = list(line)
    while line and not line[-1].text.rstrip() and line[-1].control is None:
        line.pop()
    if line and line[-1].control is None:
        last = line[-1]
        line[-1] = Segment(last.text.rstrip(), last.style)
    return line


def write_table(sheet: Sheet, width: int | None, no_trunc: bool = False,
                file: IO[str] | None = None) -> None:
    table, cells = fit_sheet(sheet, width, no_trunc)
    print_wide(Console(file=file), table, cells)


def print_table(sheet: Sheet, no_trunc: bool = False) -> None:
    """Print `sheet` on stdout, fitted to the terminal unless `no_trunc`."""
    write_table(sheet, available_width(Console()), no_trunc)
