"""`stockade verify`: prove every layer from inside a container; exit 1 if any fails."""

from typing import Annotated

import typer

from stockade.cli import render
from stockade.cli.session import Options, open_client


def verify(
    ctx: typer.Context,
    handle: Annotated[str | None, typer.Argument(
        help="A running container; without one a default container is created, checked "
             "and destroyed.")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Also fail on layers that are not enforced here.")] = False,
    no_trunc: render.NoTrunc = False,
) -> None:
    """Prove every hardening layer from inside; exit 0 only if every check passes."""
    from stockade.cli import verify_report  # the report's model loads pydantic

    options: Options = ctx.obj
    report = open_client(options).verify(handle, strict)
    if json_:
        print(verify_report.to_json(report))
    else:
        verify_report.print_report(report, no_trunc=no_trunc)
    raise typer.Exit(0 if report.passed else 1)
