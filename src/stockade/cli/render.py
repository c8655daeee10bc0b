"""Tables and JSON for people and scripts."""

import json
import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from stockade.images import Image
from stockade.spec import ContainerInfo, format_size


def emit_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    print(json.dumps(value, indent=2))


def _age(since: float) -> str:
    seconds = int(time.time() - since)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def containers_table(items: Sequence[ContainerInfo]) -> Table:
    table = Table("HANDLE", "STATE", "IMAGE", "COMMAND", "IP", "PORTS", "MEMORY", "CPU", "PIDS",
                  "CREATED", "EVENTS", box=None, header_style="bold")
    for c in items:
        state = c.state if c.exit_code is None else f"{c.state} ({c.exit_code})"
        ports = ", ".join(f"{p.host_port}->{p.container_port}/{p.protocol}" for p in c.ports)
        table.add_row(c.handle, state, c.image, " ".join(c.command)[:40], c.ip or "", ports,
                      format_size(c.limits.memory_bytes), str(c.limits.cpu_shares),
                      str(c.limits.pids), _age(c.created_at), ", ".join(c.events))
    return table


def key_value_table(rows: list[tuple[str, str, str]], title: str) -> Table:
    table = Table("FEATURE", "AVAILABLE", "DETAIL", title=title, box=None, header_style="bold")
    for name, available, detail in rows:
        table.add_row(name, available, detail)
    return table


def print_table(table: Table) -> None:
    Console(soft_wrap=True).print(table)


def images_table(items: Sequence[Image]) -> Table:
    table = Table("NAME", "DIGEST", "SIZE", "LAYERS", box=None, header_style="bold")
    for item in items:
        table.add_row(item.name, item.digest[:19], format_size(item.size_bytes),
                      str(len(item.layers)))
    return table
