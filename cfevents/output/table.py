"""The table format, streamed: rows are written as they arrive, in bounded memory.

Column widths come from the first page of results (the rows a listing holds before it must
ask the server for more), then every later row is written at once with those widths: a table
never waits for the end of a listing, and a later row never reflows one already written.

- On a terminal the table fits the terminal's width: columns a command ranks lowest are hidden
  (with a note on stderr) and a value that still does not fit is shortened with an ellipsis,
  never wrapped, so no line is wider than the terminal and no cell breaks mid-word.
  ``-o wide`` keeps every column and every character.
- Piped, it is the plain aligned table of ``tabulate``'s ``simple`` format, nothing cut: a
  later value longer than its column pushes the rest of its row right.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TextIO

GAP = 2  # spaces between two columns
FIRST_PAGE_MAX = 5000  # widths come from at most this many rows (CC's largest page)
MIN_CELL = 7  # a shortened column keeps at least this many characters (6 and the ellipsis)
ELLIPSIS = "…"
ELASTIC = 40  # a free-text column (an exit description) asks for no more room than this

Row = list[str]

# Hidden first when a terminal table cannot fit: what a person reads least. A column set names
# its own order (ColumnSet.hide); these labels are the fallback for tables without one.
HIDE_FIRST = ("cell", "index", "process", "memory_mb", "instances", "previous", "guid")


def fit_widths(
    natural: Sequence[int],
    minimum: Sequence[int],
    width: int,
    names: Sequence[str] = (),
    *,
    hide: Sequence[int] | None = None,
    keep: Iterable[int] = (),
) -> tuple[list[int], list[int]]:
    """Column widths for a terminal ``width`` columns wide: every column at least its minimum
    (its header, a whole timestamp), the rest of the room shared out, narrowest need first.
    Returns the widths of the columns kept and their indexes. When even the minimums do not
    fit, the columns in ``hide`` go first (by default those named in HIDE_FIRST), then the
    rightmost; a column in ``keep`` is never hidden. A command's own ``hide`` ranking goes
    further: those columns are hidden, in order, while the table is wider than ``width`` at
    its natural widths (each counted at most ELASTIC), so the columns that matter keep
    whole values. When what is left still does not fit, the
    widest columns give up room until the line fits (their values get an ellipsis)."""
    kept = list(range(len(natural)))
    protected = set(keep)
    ranked = hide is not None
    if hide is None:
        hide = [i for name in HIDE_FIRST for i in kept if i < len(names) and names[i] == name]
    droppable = [i for i in hide if i not in protected]
    if ranked:  # a command's own ranking: hide its least wanted columns before cutting values
        wanted = [min(n, ELASTIC) for n in natural]
        while len(kept) > 1 and droppable and _span(wanted, kept) > width:
            kept.remove(droppable.pop(0))
    droppable += [i for i in reversed(kept) if i not in protected and i not in droppable]
    while len(kept) > 1 and droppable and _span(minimum, kept) > width:
        kept.remove(droppable.pop(0))
    need = [natural[i] for i in kept]
    widths = [minimum[i] for i in kept]
    if sum(need) + GAP * (len(kept) - 1) <= width:
        return need, kept
    room = width - sum(widths) - GAP * (len(kept) - 1)
    if room < 0:
        return _squeeze(widths, width - GAP * (len(kept) - 1)), kept
    order = sorted(range(len(kept)), key=lambda k: need[k] - widths[k])
    for position, k in enumerate(order):
        grant = min(need[k] - widths[k], room // (len(kept) - position))
        widths[k] += grant
        room -= grant
    return widths, kept


def _span(widths: Sequence[int], kept: Sequence[int]) -> int:
    return sum(widths[i] for i in kept) + GAP * (len(kept) - 1)


def _squeeze(widths: list[int], total: int) -> list[int]:
    """Take room from the widest column, one character at a time, until they sum to ``total``."""
    widths = list(widths)
    while sum(widths) > max(total, len(widths)):
        widest = max(range(len(widths)), key=lambda k: widths[k])
        widths[widest] -= 1
    return widths


def shorten(text: str, width: int, ellipsis: str = ELLIPSIS) -> str:
    """``text`` in at most ``width`` terminal cells: cut, with an ellipsis, when it is longer."""
    from rich.cells import cell_len, set_cell_size

    if cell_len(text) <= width:
        return text
    if width <= 1:
        return set_cell_size(text, width)
    return set_cell_size(text, width - cell_len(ellipsis)).rstrip() + ellipsis


class Layout:
    """How each row is laid out: which values, how wide, cut or not."""

    def __init__(
        self,
        widths: Sequence[int],
        kept: Sequence[int],
        *,
        cut: bool,
        measure: Any,
        right: Sequence[bool] = (),
    ):
        self.widths = list(widths)
        self.kept = list(kept)
        self.cut = cut
        self._len: Callable[[str], int] = measure
        self.ellipsis = ELLIPSIS
        # per column (all of them, not only those kept): right-aligned (numbers)
        self.right = [bool(right[i]) if i < len(right) else False for i in self.kept]

    def line(self, row: Sequence[str]) -> str:
        """The row's line; a cell holding several lines (one per change) gives the row as
        many lines, the other cells blank below their first."""
        cells = [row[index] for index in self.kept]
        if not any("\n" in text for text in cells):
            return self._line(cells)
        pieces = [text.split("\n") for text in cells]
        depth = max(len(p) for p in pieces)
        return "\n".join(
            self._line([p[k] if k < len(p) else "" for p in pieces]) for k in range(depth)
        )

    def _line(self, cells: Sequence[str]) -> str:
        parts = []
        for width, text, right in zip(self.widths, cells, self.right, strict=True):
            if self.cut:
                text = shorten(text, width, self.ellipsis)
            pad = " " * (width - self._len(text))
            parts.append(pad + text if right else text + pad)
        return (" " * GAP).join(parts).rstrip()

    def rule(self) -> str:
        return (" " * GAP).join("-" * width for width in self.widths)


def first_page(
    records: Iterable[Any], make_row: Callable[[Any], Row]
) -> tuple[list[Row], Iterator[Any], Callable[[], bool]]:
    """The rows of the first page, the records after them, and ``page_done()``: whether the
    records read so far end a page (the next one may wait for the server).

    A paged listing (``paged``, and an ``info`` that counts ``resources`` and knows where the
    current page ends, ``page_end``: cfevents.events.listing.Listing) says where its first page ends, so nothing past it is requested
    before the first rows are written; other iterables give up to FIRST_PAGE_MAX rows."""
    info = getattr(records, "info", None) if getattr(records, "paged", False) else None

    def page_done() -> bool:
        end = getattr(info, "page_end", None)
        return isinstance(end, int) and info is not None and info.resources >= end

    iterator = iter(records)
    rows: list[Row] = []
    for record in iterator:
        rows.append(make_row(record))
        if len(rows) >= FIRST_PAGE_MAX or page_done():
            break
    return rows, iterator, page_done


def natural_widths(
    rows: Sequence[Row], headers: Sequence[str], measure: Any, ncols: int
) -> list[int]:
    widths = [measure(h) for h in headers] if headers else [0] * ncols
    for row in rows:
        for index, text in enumerate(row):
            size = max(map(measure, text.split("\n"))) if "\n" in text else measure(text)
            if size > widths[index]:
                widths[index] = size
    return widths


def write_streamed(
    records: Iterable[Any],
    out: TextIO,
    headers: Sequence[str],
    make_row: Callable[[Any], Row],
    plan: Callable[[list[Row]], Layout],
    *,
    bold: bool = False,
    rules: bool = True,
    bare_header: bool = True,
) -> int:
    """Write the table: the first page laid out by ``plan``, then each later row as it comes."""
    rows, rest, page_done = first_page(records, make_row)
    layout = plan(rows)
    if not rows and not (headers and bare_header):
        return 0
    lines = []
    if headers:
        head = layout.line(headers)
        lines.append(f"\x1b[1m{head}\x1b[0m" if bold else head)
    if rules:
        lines.append(layout.rule())
    lines.extend(layout.line(row) for row in rows)
    if lines:
        out.write("\n".join(lines) + "\n")
    out.flush()
    count = len(rows)
    del rows, lines
    write, line = out.write, layout.line
    for record in rest:
        write(line(make_row(record)) + "\n")
        count += 1
        if page_done():  # the next row may wait for the server: show these meanwhile
            out.flush()
    if rules and not headers and count:
        write(layout.rule() + "\n")
    return count


def terminal_width(out: TextIO, env: Mapping[str, str] | None = None) -> int:
    """The width of the terminal ``out`` is: $COLUMNS when set (as rich and Python read it),
    else the terminal's own size, else 80."""
    import os

    environ = os.environ if env is None else env
    columns = environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(out.fileno()).columns or 80
    except (AttributeError, OSError, ValueError):
        return 80


def wrap_line(text: str, width: int) -> list[str]:
    """A stderr line for a terminal ``width`` wide: broken between words (never inside one),
    the lines after the first indented by two spaces."""
    import textwrap

    if len(text) <= width or width < 20:
        return [text]
    return textwrap.wrap(
        text,
        width,
        subsequent_indent="  ",
        break_long_words=False,
        break_on_hyphens=False,
    ) or [text]
