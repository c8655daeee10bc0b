"""`stockade audit`: show the audit log, or check its chain and anchor (no daemon needed).

The log is read from disk, not asked of the daemon, so a daemon that misbehaves cannot
answer for its own log. That needs the log reader (stockade.audit) and the daemon's rules
for where its root is (stockade.settings, stockade.engine.layout): they are imported inside
the command, so no other command pays for them, and they are the import contract's named
exceptions (pyproject.toml, [tool.importlinter])."""

import json
from argparse import Namespace
from pathlib import Path
from typing import TYPE_CHECKING

from stockade.cli import render
from stockade.cli.session import Options
from stockade.cli.tables import Column, Sheet
from stockade.errors import InvalidSpec

if TYPE_CHECKING:
    from stockade.audit import AuditRecord, VerifyReport


def audit(args: Namespace) -> int:
    """Show the audit log, or check it with --verify (exit 1 when it is damaged)."""
    options: Options = args.options
    from stockade import settings  # the daemon's own rules for where its root is
    from stockade.audit import AuditLog
    from stockade.engine.layout import Layout

    chosen = settings.load(options.config, flags={
        "engine.root": args.audit_root or options.root}).config.engine.root
    path = Layout(chosen).audit_log
    if args.verify or args.anchor is not None:
        return _verify(path, args.anchor, args.json)
    tail: int | None = args.tail
    records = AuditLog(path).tail(tail) if tail is not None else list(AuditLog(path).records())
    if args.json:
        render.emit_json(records)
    else:
        render.print_table(_table(records), args.no_trunc)
    return 0


def _verify(path: Path, anchor: str | None, json_: bool) -> int:
    from stockade.audit import verify_log

    try:
        report = verify_log(path, anchor)
    except ValueError as exc:
        raise InvalidSpec(f"--anchor: {exc}") from exc
    if json_:
        print(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        _print_report(report)
    return 0 if report.ok else 1


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
