"""The verdict as a rich table for people and as JSON for machines."""

from pydantic import BaseModel, ConfigDict
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from stockade.verify.model import Check, Status

_STYLE = {Status.PASS: "bold green", Status.FAIL: "bold red", Status.GAP: "bold yellow"}


class Report(BaseModel):
    """`passed` is False when any row failed, or (strict) when a layer is not enforced."""

    model_config = ConfigDict(frozen=True)

    handle: str
    passed: bool
    strict: bool
    counts: dict[str, int]
    unsafe: list[str]
    cap_add: list[str] = []
    checks: list[Check]

    @classmethod
    def build(cls, handle: str, checks: list[Check], unsafe: list[str], strict: bool = False,
              cap_add: list[str] | None = None) -> "Report":
        counts = {s.value: sum(c.status == s for c in checks) for s in Status}
        passed = counts[Status.FAIL] == 0 and not (strict and counts[Status.GAP])
        return cls(handle=handle, passed=passed, strict=strict, counts=counts, unsafe=unsafe,
                   cap_add=cap_add or [], checks=checks)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == Status.FAIL]


def _table(report: Report, group: str, title: str) -> Table:
    table = Table("CHECK", "STATUS", "EXPECTED", "OBSERVED", title=title, title_justify="left",
                  box=None, header_style="bold", expand=False)
    for check in (c for c in report.checks if c.group == group):
        table.add_row(check.name, Text(check.status.value.upper(), style=_STYLE[check.status]),
                      check.expected, check.observed)
    return table


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


def render(report: Report) -> Group:
    parts: list[Table | Text] = []
    if report.unsafe:
        parts.append(Text("created with UNSAFE options: " + ", ".join(report.unsafe),
                          style="bold red"))
    if report.cap_add:
        parts.append(Text("capabilities added back with --cap-add: " + ", ".join(
            report.cap_add) + " (the battery rows they open fail)", style="yellow"))
    parts += [_table(report, "layer", "Layers"), Text(""),
              _table(report, "battery", "Escape battery"), Text(""), _summary(report)]
    return Group(*parts)


def print_report(report: Report, console: Console | None = None) -> None:
    (console or Console(soft_wrap=True)).print(render(report))


def to_json(report: Report) -> str:
    return report.model_dump_json(indent=2)
