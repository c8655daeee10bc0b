"""A verify report (stockade.wire.verify) as tables for people and as JSON for machines."""

import sys
from typing import IO

from stockade.cli.tables import (
    Column,
    Painter,
    Part,
    Sheet,
    Styled,
    available_width,
    paragraph,
    table_lines,
    write_lines,
)
from stockade.wire.verify import Report, Status

_STYLE = {Status.PASS: "bold green", Status.FAIL: "bold red", Status.GAP: "bold yellow"}


# The check and its verdict are the row. What was expected and what was seen fold, side
# by side; when even folded they do not fit, the evidence goes first (--json has it).
_COLUMNS = (Column("CHECK", essential=True), Column("STATUS", essential=True),
            Column("EXPECTED", priority=1, wrap=True), Column("OBSERVED", priority=1, wrap=True))


def _table(report: Report, group: str, title: str, width: int | None, no_trunc: bool,
           painter: Painter) -> tuple[list[str], int]:
    rows = [(check.name, Styled(check.status.value.upper(), _STYLE[check.status]),
             check.expected, check.observed)
            for check in report.checks if check.group == group]
    return table_lines(Sheet(_COLUMNS, rows, title=title, title_justify="left"), width,
                       no_trunc, painter)


def _summary(report: Report) -> list[Part]:
    counts = report.counts
    parts = [(f"{report.handle}: ", "bold"), (f"{counts['pass']} passed, ", "green"),
             (f"{counts['fail']} failed", "red" if counts["fail"] else "green")]
    if counts["gap"]:
        parts.append((f", {counts['gap']} not enforced (gap)", "yellow"))
    parts.append((" -> " + ("VERIFIED" if report.passed else "NOT VERIFIED"),
                  "bold green" if report.passed else "bold red"))
    return parts


def report_lines(report: Report, width: int | None = None, no_trunc: bool = False,
                 painter: Painter | None = None) -> list[str]:
    """The report with its tables fitted to `width` (None: whole rows); the notes wrap at
    the wider of that and the wider table."""
    painter = painter or Painter()
    layers, layers_width = _table(report, "layer", "Layers", width, no_trunc, painter)
    battery, battery_width = _table(report, "battery", "Escape battery", width, no_trunc,
                                    painter)
    wide = max(layers_width, battery_width, width or 0)
    lines: list[str] = []
    if report.unsafe:
        lines += paragraph([("created with UNSAFE options: " + ", ".join(report.unsafe),
                             "bold red")], wide, painter)
    if report.cap_add:
        lines += paragraph([("capabilities added back with --cap-add: " + ", ".join(
            report.cap_add) + " (the battery rows they open fail)", "yellow")], wide, painter)
    lines += [*layers, "", *battery, "", *paragraph(_summary(report), wide, painter)]
    if report.host:  # informational: the host under every container, not this one's proof
        lines += paragraph([(f"host (informational, stockade host check): {report.host}",
                             "")], wide, painter)
    return lines


def print_report(report: Report, no_trunc: bool = False, file: IO[str] | None = None) -> None:
    """Print on `file` (stdout), fitted to the terminal's width."""
    out = sys.stdout if file is None else file
    write_lines(report_lines(report, available_width(out), no_trunc, Painter.on(out)), out)


def to_json(report: Report) -> str:
    return report.model_dump_json(indent=2)
