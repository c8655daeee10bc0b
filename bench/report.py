"""The terminal view: one rich table per suite, then a summary line per suite."""

from rich.console import Console
from rich.table import Table

from bench.model import Row, SuiteResult

console = Console(width=132)


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if abs(value) >= 0.1 else f"{value:.3f}"


def _ratio(row: Row) -> str:
    return "-" if row.ratio is None else f"{row.ratio:.2f}"


def suite_table(result: SuiteResult) -> Table:
    caption = f"{result.status}" + (f": {result.reason}" if result.reason else "")
    caption += f"; {result.elapsed_s:.0f} s"
    if result.leftovers:
        caption += f"; LEFT BEHIND: {', '.join(result.leftovers)}"
    table = Table(title=f"[bold]{result.name}[/]: {result.title}", caption=caption,
                  title_justify="left", caption_justify="left")
    for header, justify in (("metric", "left"), ("median", "right"), ("unit", "left"),
                            ("n", "right"), ("reference", "left"), ("ref", "right"),
                            ("ratio", "right")):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for row in result.rows:
        table.add_row(row.metric, _number(row.value), row.unit, str(len(row.samples) or ""),
                      row.reference, _number(row.ref_value), _ratio(row))
    return table


def show(result: SuiteResult) -> None:
    if result.rows:
        console.print(suite_table(result))
    else:
        console.print(f"[bold]{result.name}[/]: {result.title}\n  {result.status}: "
                      f"{result.reason}; {result.elapsed_s:.0f} s")
    for note in result.notes:
        console.print(f"  [dim]- {note}[/]")
    for plot in result.plots:
        console.print(f"  [dim]plot: {plot}[/]")
    console.print()


def summary(results: list[SuiteResult], wall_s: float, quick: bool) -> None:
    table = Table(title=f"bench {'--quick ' if quick else ''}summary: {wall_s:.0f} s wall clock",
                  title_justify="left")
    for header in ("suite", "status", "seconds", "left behind", "detail"):
        table.add_column(header)
    for result in results:
        table.add_row(result.name, result.status, f"{result.elapsed_s:.0f}",
                      str(len(result.leftovers)), result.reason)
    console.print(table)
