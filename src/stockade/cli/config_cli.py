"""`stockade config show`: the daemon's effective settings and where each came from."""

import json
import sys
from typing import Annotated, Any

import typer

from stockade.cli import render
from stockade.cli.session import Options, open_client
from stockade.client import DaemonUnavailable

app = typer.Typer(no_args_is_help=True, help="The daemon's settings.")


def _toml(value: Any) -> str:
    """JSON's spelling of strings, numbers, booleans and lists is also TOML's."""
    return json.dumps(value)


def toml_lines(file: str | None, rows: list[dict[str, Any]]) -> list[str]:
    """Dotted `key = value  # source` lines, valid in the settings file as they stand;
    a setting with no value (TOML has no null) is shown as a comment."""
    body = [(f"{r['key']} = {_toml(r['value'])}" if r["value"] is not None
             else f"# {r['key']} is unset", r["source"]) for r in rows]
    width = min(max((len(text) for text, _ in body), default=0), 60)
    head = f"# settings file: {file}" if file else "# settings file: none"
    return [head, *(f"{text:<{width}}  # {source}" for text, source in body)]


@app.command()
def show(
    ctx: typer.Context,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    local: Annotated[bool, typer.Option(
        "--local", help="Compute from the file and this environment instead of asking the "
                        "daemon (what a daemon started now would use).")] = False,
) -> None:
    """Print the effective settings and where each came from."""
    options: Options = ctx.obj
    data: dict[str, Any]
    if not local:
        try:
            data = open_client(options).settings()
        except DaemonUnavailable:
            print(f"stockade: no daemon answers on {options.socket}; showing what one "
                  "started now would use", file=sys.stderr)
            local = True
    if local:
        from stockade import settings  # the daemon's own loader, only when asked

        data = settings.load(flags={"socket": options.socket_flag,
                                    "engine.root": options.root}).shown()
    if json_:
        render.emit_json(data)
        return
    print("\n".join(toml_lines(data["file"], data["settings"])))
