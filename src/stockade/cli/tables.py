"""Fit a table to the terminal: what names a row prints whole, the rest makes room.

Every table the CLI prints is a `Sheet`: its columns say which of them identify a row
(`essential`: whole, on one line, never dropped), which may fold onto more lines (`wrap`),
which may be shortened (`cap`) and in what order the others leave (`priority`) when the
rows are wider than the terminal. `fit` decides all of that without a terminal, so it can be
tested; `write_table` lays the fitted cells out. (Plain classes are NamedTuples: the
`dataclasses` module imports `inspect`, about 6 ms of `ps`.)

The layout is the standard library's, not rich's: `stockade ps` is the command people run
most, and rich's table machinery costs more to import (about 35 ms here) than the rest of
`ps` takes to run (docs/performance.md, section 7). The output is what the rich table this
replaces printed: columns two cells apart, padding after a row's last value cut, folding
columns wrapped at word boundaries (words longer than the column folded), a bold header
and styled cells only on a terminal.
"""

import functools
import itertools
import os
import re
import sys
from collections.abc import Collection, Iterable, Sequence
from typing import IO, Literal, NamedTuple

GAP = 2  # one space each side of an inner column boundary, none at the edges
WRAP_FLOOR = 10  # a folding column narrower than this reads as a column of fragments
TAB_SIZE = 8
ELLIPSIS = "…"

Justify = Literal["left", "center"]


class Styled(NamedTuple):
    """A cell's text and how a terminal shows it, e.g. `Styled("PASS", "bold green")`.
    Off a terminal only the text is printed."""

    plain: str
    style: str = ""


Cell = str | Styled


class Column(NamedTuple):
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

    @property
    def folds(self) -> bool:
        return self.wrap and not self.essential  # an essential column prints whole


class Sheet(NamedTuple):
    """A table to print: columns, rows of plain strings or styled cells, and a title."""

    columns: Sequence[Column]
    rows: Sequence[Sequence[Cell]]
    title: str | None = None
    title_justify: Justify = "center"


class Fitted(NamedTuple):
    """The columns kept (and their indexes), each one's width, the cells as they print."""

    kept: tuple[int, ...]
    columns: tuple[Column, ...]
    widths: tuple[int, ...]
    rows: tuple[tuple[Styled, ...], ...]

    @property
    def width(self) -> int:
        return _total(self.widths, range(len(self.widths)))


# -- measuring ---------------------------------------------------------------------------------

# What a terminal would act on rather than show: bell, backspace, vertical tab, form feed and
# carriage return are dropped, as rich dropped them, so a value cannot move the cursor.
_CONTROL = dict.fromkeys((7, 8, 11, 12, 13))


@functools.lru_cache(maxsize=4096)
def _char_cells(char: str) -> int:
    code = ord(char)
    if code < 32 or 0x7F <= code < 0xA0:
        return 0
    import unicodedata  # only for text beyond ASCII

    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def cell_len(text: str) -> int:
    """The cells `text` takes on a terminal: wide (CJK) characters take two."""
    if text.isascii() and text.isprintable():
        return len(text)
    return sum(_char_cells(char) for char in text)


def _crop(text: str, cells: int) -> str:
    """The longest start of `text` that takes at most `cells` cells."""
    if text.isascii() and text.isprintable():
        return text[:cells]
    taken = 0
    for index, char in enumerate(text):
        taken += _char_cells(char)
        if taken > cells:
            return text[:index]
    return text


def _set_cells(text: str, cells: int) -> str:
    """`text` cropped or padded with spaces to exactly `cells` cells."""
    text = _crop(text, max(cells, 0))
    return text + " " * (cells - cell_len(text))


def _chop(word: str, cells: int) -> list[str]:
    """`word` folded into pieces of at most `cells` cells."""
    pieces: list[str] = []
    while word:
        piece = _crop(word, cells) or word[:1]  # a wide character in a 1-cell column
        pieces.append(piece)
        word = word[len(piece):]
    return pieces


def _expand_tabs(text: str) -> str:
    """Each tab as a space and then spaces to the next multiple of TAB_SIZE cells."""
    if "\t" not in text:
        return text
    lines = []
    for line in text.split("\n"):
        *tabbed, last = line.split("\t")
        built, cells = [], 0
        for part in tabbed:
            cells += cell_len(part) + 1
            pad = -cells % TAB_SIZE
            built.append(part + " " * (1 + pad))
            cells += pad
        lines.append("".join([*built, last]))
    return "\n".join(lines)


def _clean(cell: Cell) -> Styled:
    text, style = (cell, "") if isinstance(cell, str) else (cell.plain, cell.style)
    return Styled(_expand_tabs(text.translate(_CONTROL)), style)


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _cut(cell: Styled, column: Column) -> Styled:
    if column.cap is None or column.essential:  # an essential value prints whole
        return cell
    cap = column.cap
    lines = [line if cell_len(line) <= cap
             else _set_cells(line, cap - 1) + ELLIPSIS if column.ellipsis
             else _set_cells(line, cap) for line in _lines(cell.plain)]
    return Styled("\n".join(lines), cell.style)


def _cells(text: str) -> int:
    return max((cell_len(line) for line in _lines(text)), default=0)


def _total(widths: Sequence[int], kept: Collection[int]) -> int:
    return sum(widths[i] for i in kept) + GAP * max(len(kept) - 1, 0)


# -- fitting -----------------------------------------------------------------------------------


def fit(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int | None,
        no_trunc: bool = False) -> Fitted:
    """Which columns to keep and how wide, for rows printed in `width` cells.

    `width` None means as wide as the rows need; `no_trunc` keeps every value whole and
    every column, however long the line gets.
    """
    texts = [[_clean(cell) for cell in row] for row in rows]
    if not no_trunc:
        texts = [[_cut(text, column) for text, column in zip(row, columns, strict=True)]
                 for row in texts]
    natural = [max([cell_len(column.header), *(_cells(row[i].plain) for row in texts)])
               for i, column in enumerate(columns)]
    widths = list(natural)
    kept = list(range(len(columns)))
    if width is not None and not no_trunc:
        floors = [_floor(column, natural[i], [row[i].plain for row in texts]) if column.folds
                  else natural[i] for i, column in enumerate(columns)]
        kept = _squeeze(columns, floors, widths, width)
    return Fitted(tuple(kept), tuple(columns[i] for i in kept), tuple(widths[i] for i in kept),
                  tuple(tuple(row[i] for i in kept) for row in texts))


def _floor(column: Column, natural: int, cells: list[str]) -> int:
    """How narrow a folding column may get: its header, and words of up to twice the
    floor kept whole ("8000->80/tcp," reads, "8000->80/tc" over "p," does not)."""
    words = (cell_len(word) for text in cells for word in text.split())
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


# -- laying out --------------------------------------------------------------------------------

_WORD = re.compile(r"\s*\S+\s*")  # a word and the whitespace after it
_TRAILING_SPACE = re.compile(r"\s+$")
Part = tuple[str, str]  # text and style


def breaks(text: str, cells: int) -> list[int]:
    """Where to break one line of `text` so each piece takes at most `cells` cells: between
    words, a word longer than a line folded onto lines of its own (rich's rule)."""
    found: list[int] = []
    used = 0
    for match in _WORD.finditer(text):
        start, word = match.start(), match.group(0)
        size = cell_len(word.rstrip())
        if cells - used >= size:
            used += cell_len(word)
        elif size > cells:
            pieces = _chop(word, cells)
            for number, piece in enumerate(pieces):
                if start:
                    found.append(start)
                if number == len(pieces) - 1:
                    used = cell_len(piece)
                else:
                    start += len(piece)
        elif used and start:
            found.append(start)
            used = cell_len(word)
    return found


def _rstrip_past(line: str, size: int) -> str:
    """Whitespace that ends a wrapped line, cut as far as the line is longer than `size`."""
    excess = len(line) - size
    space = _TRAILING_SPACE.search(line)
    if excess <= 0 or space is None:
        return line
    return line[:len(line) - min(len(space.group(0)), excess)]


def wrap_parts(parts: Sequence[Part], cells: int) -> list[list[Part]]:
    """One line of styled parts as lines of at most `cells` cells (see `breaks`)."""
    plain = "".join(text for text, _ in parts)
    edges = [0, *breaks(plain, cells), len(plain)]
    return [_clip(parts, begin, begin + len(_rstrip_past(plain[begin:end], cells)))
            for begin, end in itertools.pairwise(edges)]


def _clip(parts: Sequence[Part], begin: int, end: int) -> list[Part]:
    """The characters `begin` to `end` of `parts`, each piece with its style."""
    found: list[Part] = []
    at = 0
    for text, style in parts:
        low, high = max(begin, at), min(end, at + len(text))
        if low < high:
            found.append((text[low - at:high - at], style))
        at += len(text)
    return found


def wrap(text: str, cells: int) -> list[str]:
    """One line of text as lines of at most `cells` cells (see `breaks`)."""
    return ["".join(t for t, _ in line) for line in wrap_parts([(text, "")], cells)]


def _cell_lines(cell: Styled, width: int, folds: bool) -> list[str]:
    lines: list[str] = []
    for line in _lines(cell.plain):
        lines += wrap(line, width) if folds else [line]
    return [_crop(line, width) for line in lines]


_SGR = {"bold": "1", "dim": "2", "italic": "3", "red": "31", "green": "32", "yellow": "33"}
_COLOURS = {"red", "green", "yellow"}


def _sgr(style: str, colours: bool) -> str:
    codes = [_SGR[word] for word in style.split() if word in _SGR
             and (colours or word not in _COLOURS)]
    return f"\x1b[{';'.join(codes)}m" if codes else ""


class Painter:
    """Styles as terminal escapes on a terminal, nothing elsewhere. As rich did: NO_COLOR
    drops colours but keeps bold, FORCE_COLOR styles a pipe too, TERM=dumb never styles."""

    def __init__(self, enabled: bool = False, colours: bool = True) -> None:
        self.enabled = enabled
        self.colours = colours

    @classmethod
    def on(cls, file: IO[str]) -> "Painter":
        forced = bool(os.environ.get("FORCE_COLOR"))
        return cls((forced or is_terminal(file)) and os.environ.get("TERM") != "dumb",
                   not os.environ.get("NO_COLOR"))

    def paint(self, text: str, style: str) -> str:
        code = _sgr(style, self.colours) if self.enabled and text else ""
        return f"{code}{text}\x1b[0m" if code else text

    def line(self, parts: Sequence[Part]) -> str:
        """Parts as one line, its trailing padding cut (docker ps ends its lines at the
        last value too: padding is noise to cut, diff and copy-paste)."""
        kept = list(parts)
        while kept and not kept[-1][0].rstrip():
            kept.pop()
        if kept:
            kept[-1] = (kept[-1][0].rstrip(), kept[-1][1])
        return "".join(self.paint(text, style) for text, style in kept)


def _row_lines(cells: Sequence[Styled], fitted: Fitted, style: str = "") -> list[list[Part]]:
    """A row as lines of parts: each cell's lines padded to its column, two cells apart,
    a shorter cell's column left blank below it."""
    columns = [_cell_lines(cell, width, column.folds)
               for cell, width, column in zip(cells, fitted.widths, fitted.columns, strict=True)]
    lines: list[list[Part]] = []
    for index in range(max((len(cell_lines) for cell_lines in columns), default=0)):
        parts: list[Part] = []
        for number, (cell_lines, cell, width) in enumerate(zip(columns, cells, fitted.widths,
                                                               strict=True)):
            text = cell_lines[index] if index < len(cell_lines) else ""
            if number:
                parts.append((" " * GAP, ""))
            parts += [(text, f"{style} {cell.style}".strip()),
                      (" " * (width - cell_len(text)), "")]
        lines.append(parts)
    return lines


def _title(text: str, width: int, justify: Justify) -> list[str]:
    lines = wrap(text, max(width, 1))
    if justify == "center":
        return [" " * ((width - cell_len(line.rstrip())) // 2) + line.rstrip()
                for line in lines]
    return lines


def table_lines(sheet: Sheet, width: int | None, no_trunc: bool = False,
                painter: Painter | None = None) -> tuple[list[str], int]:
    """The lines of `sheet` fitted to `width` (None: as wide as its rows), and the cells
    the table takes. A title wraps at the table's width, in italics on a terminal."""
    fitted = fit(sheet.columns, sheet.rows, width, no_trunc)
    painter = painter or Painter()
    lines = [painter.line([(line, "italic")])
             for line in (_title(sheet.title, fitted.width, sheet.title_justify)
                          if sheet.title else [])]
    header = tuple(Styled(column.header) for column in fitted.columns)
    lines += [painter.line(parts) for parts in _row_lines(header, fitted, "bold")]
    for row in fitted.rows:
        lines += [painter.line(parts) for parts in _row_lines(row, fitted)]
    return lines, fitted.width


def paragraph(parts: Sequence[Part], width: int, painter: Painter | None = None) -> list[str]:
    """Styled text wrapped at `width` cells, its lines as a terminal shows them."""
    painter = painter or Painter()
    return [painter.line(line) for line in wrap_parts(parts, max(width, 1))]


# -- the terminal ------------------------------------------------------------------------------


def is_terminal(file: IO[str]) -> bool:
    try:
        return file.isatty()
    except (AttributeError, ValueError):  # closed, or not a file at all
        return False


def _terminal_columns(file: IO[str]) -> int:
    for stream in (file, sys.stdin, sys.stderr):
        try:
            return os.get_terminal_size(stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            continue
    return 80


def available_width(file: IO[str] | None = None) -> int | None:
    """The cells a table may take on `file` (stdout); None: as many as its rows need.

    COLUMNS, when set, is a request for that width; a terminal has its own width. Anything
    else is a pipe or a file: rows print whole there, as `docker ps` prints them, so grep,
    awk and cut see every column, whatever the width of the terminal the pipeline runs in
    (scripts that want the data use --json).
    """
    out = sys.stdout if file is None else file
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        return int(columns)
    return _terminal_columns(out) if is_terminal(out) else None


def write_lines(lines: Iterable[str], file: IO[str] | None = None) -> None:
    out = sys.stdout if file is None else file
    out.write("".join(f"{line}\n" for line in lines))
    out.flush()


def write_table(sheet: Sheet, width: int | None, no_trunc: bool = False,
                file: IO[str] | None = None) -> None:
    out = sys.stdout if file is None else file
    write_lines(table_lines(sheet, width, no_trunc, Painter.on(out))[0], out)


def print_table(sheet: Sheet, no_trunc: bool = False) -> None:
    """Print `sheet` on stdout, fitted to the terminal unless `no_trunc`."""
    write_table(sheet, available_width(), no_trunc)
