"""`stockade audit`: show the audit log, or check its chain and anchor (no daemon needed).

The log is read from disk, not asked of the daemon, so a daemon that misbehaves cannot
answer for its own log. That needs the log reader (stockade.audit) and the daemon's rules
for where its root is (stockade.settings, stockade.engine.layout): they are imported inside
the command, so no other command pays for them, and they are the import contract's named
exceptions (pyproject.toml, [tool.importlinter])."""

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stockade.cli import render
from stockade.cli.session import Options
from stockade.cli.tables import Column, Sheet
from stockade.errors import InvalidSpec

if TYPE_CHECKING:
    from stockade.audit import AuditRecord, VerifyReport


def audit(
    ctx: typer.Context,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    verify: Annotated[bool, typer.Option(
        "--verify", help="Check the chain and the anchor; exit 1 and name each problem.")] = False,
    tail: Annotated[int | None, typer.Option(
        "--tail", min=0, help="Show only the last N records.")] = None,
    anchor: Annotated[str | None, typer.Option(
        "--anchor", help="With --verify: a head hash saved elsewhere that the log must still "
                         "contain (implies --verify).")] = None,
    root: Annotated[Path | None, typer.Option(
        "--root", help="State root (as the global --root).")] = None,
    no_trunc: render.NoTrunc = False,
) -> None:
    """Show the audit log, or check it with --verify."""
    options: Options = ctx.obj
    from stockade import settings  # the daemon's own rules for where its root is
    from stockade.audit import AuditLog
    from stockade.engine.layout import Layout

    chosen = settings.load(flags={"engine.root": root or options.root}).config.engine.root
    path = Layout(chosen).audit_log
    if verify or anchor is not None:
        _verify(path, anchor, json_)
    records = AuditLog(path).tail(tail) if tail is not None else list(AuditLog(path).records())
    if json_:
        render.emit_json(records)
    else:
        render.print_table(_table(records), no_trunc)


def _verify(path: Path, anchor: str | None, json_: bool) -> None:
    from stockade.audit import verify_log

    try:
        report = verify_log(path, anchor)
    except ValueError as exc:
        raise InvalidSpec(f"--anchor: {exc}") from exc
    if json_:
        print(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        _print_report(report)
    raise typer.Exit(0 if report.ok else 1)


def _print_report(report: "VerifyReport") -> None:
    if report.ok:
        print(f"audit log intact: {report.count} records")
        if report.head is not None:
            print(f"head: {report.head}")
        return
    print(f"audit log damaged: {len(report.problems)} problem(s) in {report.count} "
          f"readable records of {report.path}")
    for problem in report.problems:
        print(f"  {problem.kind}: {problem.message}")


# The sequence number and the time name a record (squeezed, a timestamp is unreadable);
# what was done to what comes next, who did it and the record's kind last.
_COLUMNS = (
    Column("SEQ", essential=True), Column("TIME", essential=True),
    Column("KIND", priority=1), Column("ACTOR", priority=2), Column("ACTION", priority=5),
    Column("TARGET", priority=4), Column("RESULT", priority=3, wrap=True),
)


def _table(records: list["AuditRecord"]) -> Sheet:
    return Sheet(_COLUMNS, [(str(r.seq), r.time, r.kind, r.actor, r.action, r.target, r.result)
                            for r in records])
