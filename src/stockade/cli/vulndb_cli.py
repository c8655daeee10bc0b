"""`stockade vulndb update --from FILE|URL` and `stockade vulndb status`: the daemon's
offline vulnerability database (OSV records)."""

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stockade.cli import render
from stockade.cli.session import open_client

if TYPE_CHECKING:
    from stockade.wire.vulndb import VulnDBStatus

app = typer.Typer(no_args_is_help=True, help="The offline vulnerability database.")
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _lines(status: "VulnDBStatus") -> list[str]:
    if not status.loaded:
        return ["no vulnerability feed loaded (stockade vulndb update --from FILE|URL)"]
    loaded = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(status.loaded_at or 0))
    per = ", ".join(f"{name} {count}" for name, count in status.ecosystems.items())
    return [f"feed:       {status.origin}",
            f"feed date:  {status.feed_date or 'unknown (no record has a modified date)'}",
            f"loaded at:  {loaded}",
            f"records:    {status.records} ({status.affected} affected packages)",
            f"ecosystems: {per or 'none'}"]


@app.command()
def update(
    ctx: typer.Context,
    source: Annotated[str, typer.Option(
        "--from", help="An OSV feed: a .zip of records as osv.dev publishes per ecosystem, a "
                       "JSON array or JSON lines; a file on the daemon's host or an http(s) "
                       "URL that the daemon fetches.")],
    json_: JsonFlag = False,
) -> None:
    """Replace the database with a feed; a bad feed keeps the loaded one."""
    if "://" not in source:
        source = str(Path(source).absolute())  # the daemon does not share our directory
    status = open_client(ctx.obj).vulndb.update(source)
    if json_:
        render.emit_json(status)
        return
    print("\n".join(_lines(status)))


@app.command()
def status(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """Show the loaded feed: where from, its date and its counts."""
    loaded = open_client(ctx.obj).vulndb.status()
    if json_:
        render.emit_json(loaded)
        return
    print("\n".join(_lines(loaded)))
