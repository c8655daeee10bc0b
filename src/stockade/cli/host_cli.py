"""`stockade host check [--json]` and `stockade host harden [--apply | --revert]
[--dry-run]`: the host baseline, through the daemon (admin only). `check` exits 1 when an
item fails, like `verify`; not-applicable items never fail it."""

from argparse import Namespace
from typing import Any

from stockade.cli import render, session
from stockade.cli.tables import Column, Sheet
from stockade.errors import InvalidSpec

_MARK = {"pass": "pass", "fail": "FAIL", "n/a": "n/a"}
# the item and its verdict are the row; evidence and reason fold (--json has them whole)
_COLUMNS = (Column("ITEM", essential=True), Column("STATUS", essential=True),
            Column("EVIDENCE", priority=1, wrap=True), Column("REASON", priority=1, wrap=True))


def check(args: Namespace) -> int:
    """Every baseline item with its evidence and reason; exit 1 if any item fails."""
    report = session.open_json(args.options).host.check()
    if args.json:
        render.emit_json(report)
    else:
        rows = [(item["name"], _MARK[item["status"]], item["evidence"], item["reason"])
                for item in report["items"]]
        render.print_table(Sheet(_COLUMNS, rows, title=report["summary"]), args.no_trunc)
        for finding in report.get("findings", []):
            print(f"{finding['package']} {finding['installed']}: {finding['id']} "
                  f"(fixed in {finding['fixed'] or 'no fix yet'}) {finding['summary']}")
    return 1 if report["failed"] else 0


def harden(args: Namespace) -> None:
    """Set the safe sysctls the check fails (without --apply or --revert: show the plan)."""
    if args.apply and args.revert:
        raise InvalidSpec("--apply and --revert exclude each other")
    outcome = session.open_json(args.options).host.harden(
        "revert" if args.revert else "apply", args.dry_run or not (args.apply or args.revert))
    if args.json:
        render.emit_json(outcome)
        return
    print("\n".join(_lines(outcome)))


def _lines(outcome: dict[str, Any]) -> list[str]:
    verb = "would set" if outcome["dry_run"] else "set"
    lines = [f"{verb} {c['name']}: {c['before']} -> {c['after']}" for c in outcome["changes"]]
    if not lines:
        lines.append(f"nothing to {outcome['action']}")
    elif outcome["action"] == "apply":
        lines.append(f"drop-in: {outcome['dropin']}" + (" (not written)" if outcome["dry_run"]
                                                       else ""))
    lines += [f"not changed, for an operator: {r['name']}: {r['command']}"
              for r in outcome["reported"]]
    return [*lines, outcome["summary"]]
