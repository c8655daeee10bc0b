"""`stockade host check [--json]` and `stockade host harden [--apply | --revert]
[--dry-run]`: the host baseline, through the daemon (admin only). `check` exits 1 when an
item fails, like `verify`; not-applicable items never fail it."""

from typing import Annotated, Any

import typer

from stockade.cli import render
from stockade.cli.session import open_client
from stockade.cli.tables import Column, Sheet
from stockade.errors import InvalidSpec

app = typer.Typer(no_args_is_help=True, help="Check this host against the baseline and "
                  "harden its sysctls (docs/host.md).")
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
_MARK = {"pass": "pass", "fail": "FAIL", "n/a": "n/a"}
# the item and its verdict are the row; evidence and reason fold (--json has them whole)
_COLUMNS = (Column("ITEM", essential=True), Column("STATUS", essential=True),
            Column("EVIDENCE", priority=1, wrap=True), Column("REASON", priority=1, wrap=True))


@app.command()
def check(ctx: typer.Context, json_: JsonFlag = False, no_trunc: render.NoTrunc = False
          ) -> None:
    """Every baseline item with its evidence and reason; exit 1 if any item fails."""
    report = open_client(ctx.obj).host.check()
    if json_:
        render.emit_json(report)
    else:
        rows = [(item["name"], _MARK[item["status"]], item["evidence"], item["reason"])
                for item in report["items"]]
        render.print_table(Sheet(_COLUMNS, rows, title=report["summary"]), no_trunc)
        for finding in report.get("findings", []):
            print(f"{finding['package']} {finding['installed']}: {finding['id']} "
                  f"(fixed in {finding['fixed'] or 'no fix yet'}) {finding['summary']}")
    raise typer.Exit(1 if report["failed"] else 0)


@app.command()
def harden(
    ctx: typer.Context,
    apply: Annotated[bool, typer.Option("--apply", help="Write and apply the drop-in.")] = False,
    revert: Annotated[bool, typer.Option("--revert", help="Restore the values found before "
                                         "and remove the drop-in.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show, change nothing.")] = False,
    json_: JsonFlag = False,
) -> None:
    """Set the safe sysctls the check fails (without --apply or --revert: show the plan)."""
    if apply and revert:
        raise InvalidSpec("--apply and --revert exclude each other")
    outcome = open_client(ctx.obj).host.harden("revert" if revert else "apply",
                                               dry_run or not (apply or revert))
    if json_:
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
