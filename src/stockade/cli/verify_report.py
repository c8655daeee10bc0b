"""A verify report (stockade.wire.verify) as rich tables for people and as JSON for machines."""

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from stockade.cli.tables import Column, Sheet, available_width, fit_sheet, print_wide
from stockade.wire.verify import Report, Status

_STYLE = {Status.PASS: "bold green", Status.FAIL: "bold red", Status.GAP: "bold yellow"}


# The check and its verdict are the row. What was expected and what was seen fold, side
# by side; when even folded they do not fit, the evidence goes first (--json has it).
_COLUMNS = (Column("CHECK", essential=True), Column("STATUS", essential=True),
            Column("EXPECTED", priority=1, wrap=True), Column("OBSERVED", priority=1, wrap=True))


def _table(report: Report, group: str, title: str, width: int | None,
           no_trunc: bool) -> tuple[Table, int]:
    rows = [(check.name, Text(check.status.value.upper(), style=_STYLE[check.status]),
             check.expected, check.observed)
            for check in report.checks if check.group == group]
    return fit_sheet(Sheet(_COLUMNS, rows, title=title, title_justify="left"), width,
                     no_trunc)


def _summary(report: Report) -> Text:
    counts = report.counts
    text = Text(f"{report.handle}: ", style="bold")
    text.append(f"{counts['pass']} passed, ", style="green")
    text.append(f"{counts['fail']} failed", style="red" if counts["fail"] else "green")
    if counts["gap"]:
        text.append(f", {counts['gap']} not enforced (gap)", style="yellow")
    text.append(" -> " + ("VERIFIED" if report.passed else "NOT VERIFIED"),
                style="bold green" if report.passed else "bold red")
    return text


def render(report: Report, width: int | None = None,
           no_trunc: bool = False) -> tuple[Group, int]:
    """The report with its tables fitted to `width`, and the cells the wider table takes."""
    parts: list[Table | Text] = []
    if report.unsafe:
        parts.append(Text("created with UNSAFE options: " + ", ".join(report.unsafe),
                          style="bold red"))
    if report.cap_add:
        parts.append(Text("capabilities added back with --cap-add: " + ", ".join(
            report.cap_add) + " (the battery rows they open fail)", style="yellow"))
    layers, layers_width = _table(report, "layer", "Layers", width, no_trunc)
    battery, battery_width = _table(report, "battery", "Escape battery", width, no_trunc)
    parts += [layers, Text(""), battery, Text(""), _summary(report)]
    if report.host:  # informational: the host under every container, not this one's proof
        parts.append(Text(f"host (informational, stockade host check): {report.host}"))
    return Group(*parts), max(layers_width, battery_width)


def print_report(report: Report, console: Console | None = None,
                 no_trunc: bool = False) -> None:
    """Print on `console`, fitted to its width; by default stdout, fitted to the terminal."""
    width = console.width if console is not None else available_width(Console())
    group, cells = render(report, width, no_trunc)
    print_wide(console or Console(), group, max(cells, width or 0))


def to_json(report: Report) -> str:
    return report.model_dump_json(indent=2)
