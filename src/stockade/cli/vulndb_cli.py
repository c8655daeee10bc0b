"""`stockade vulndb update --from FILE|URL` and `stockade vulndb status`: the daemon's
offline vulnerability database (OSV records)."""

import time
from argparse import Namespace
from pathlib import Path
from typing import TYPE_CHECKING

from stockade.cli import render, session

if TYPE_CHECKING:
    from stockade.wire.vulndb import VulnDBStatus


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


def update(args: Namespace) -> None:
    """Replace the database with a feed; a bad feed keeps the loaded one."""
    source: str = args.source
    if "://" not in source:
        source = str(Path(source).absolute())  # the daemon does not share our directory
    status = session.open_client(args.options).vulndb.update(source)
    if args.json:
        render.emit_json(status)
        return
    print("\n".join(_lines(status)))


def status(args: Namespace) -> None:
    """Show the loaded feed: where from, its date and its counts."""
    loaded = session.open_client(args.options).vulndb.status()
    if args.json:
        render.emit_json(loaded)
        return
    print("\n".join(_lines(loaded)))
