"""`stockade config show`: the daemon's effective settings and where each came from."""

import json
import sys
from argparse import Namespace
from typing import Any

from stockade.cli import render, session
from stockade.cli.session import Options
from stockade.client.errors import DaemonUnavailable


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


def show(args: Namespace) -> None:
    """Print the effective settings and where each came from."""
    options: Options = args.options
    data: dict[str, Any]
    local: bool = args.local
    if local:
        options.local_only("`config show --local` computes this host's settings, so it")
    if not local:
        try:
            data = session.open_json(options).settings()
        except DaemonUnavailable:
            if options.remote is not None:  # this host's settings would say nothing of it
                raise
            print(f"stockade: no daemon answers on {options.socket}; showing what one "
                  "started now would use", file=sys.stderr)
            local = True
    if local:
        from stockade import settings  # the daemon's own loader, only when asked

        data = settings.load(options.config, flags={"socket": options.socket_flag,
                                                    "engine.root": options.root}).shown()
    if args.json:
        render.emit_json(data)
        return
    print("\n".join(toml_lines(data["file"], data["settings"])))
