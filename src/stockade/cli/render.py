"""Tables and JSON for people and scripts."""

import json
import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from stockade.images import Image
from stockade.spec import ContainerInfo, ContainerMetrics, format_size, human_size


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
                  "DISK",
                  "CREATED", "EVENTS", box=None, header_style="bold")
    for c in items:
        state = c.state if c.exit_code is None else f"{c.state} ({c.exit_code})"
        ports = ", ".join(f"{p.host_port}->{p.container_port}/{p.protocol}" for p in c.ports)
        table.add_row(c.handle, state, c.image, " ".join(c.command)[:40], c.ip or "", ports,
                      format_size(c.limits.memory_bytes), str(c.limits.cpu_shares),
                      str(c.limits.pids), _disk(c), _age(c.created_at), ", ".join(c.events))
    return table


def _size_or_dash(value: int | None) -> str:
    return "-" if value is None else f"{value / (1 << 20):.1f}M"


def metrics_table(items: Sequence[ContainerMetrics]) -> Table:
    table = Table("HANDLE", "MEMORY", "CPU (s)", "PIDS", "DISK", "NET TX", "NET RX", box=None,
                  header_style="bold")
    for m in items:
        table.add_row(m.handle,
                      f"{_size_or_dash(m.memory_bytes)}/{format_size(m.memory_limit_bytes)}",
                      "-" if m.cpu_seconds is None else f"{m.cpu_seconds:.2f}",
                      "-" if m.pids is None else str(m.pids),
                      f"{_size_or_dash(m.disk_used_bytes)}/{format_size(m.disk_limit_bytes)}",
                      _size_or_dash(m.network_tx_bytes), _size_or_dash(m.network_rx_bytes))
    return table


def _disk(info: ContainerInfo) -> str:
    """Writable layer use against its quota, e.g. '12.0M/1G btrfs'."""
    if info.disk is None:
        return format_size(info.limits.disk_bytes)
    used = "?" if info.disk.used_bytes is None else f"{info.disk.used_bytes / (1 << 20):.1f}M"
    return f"{used}/{format_size(info.disk.limit_bytes)} {info.disk.backend}"


def key_value_table(rows: list[tuple[str, str, str]], title: str) -> Table:
    table = Table("FEATURE", "AVAILABLE", "DETAIL", title=title, box=None, header_style="bold")
    for name, available, detail in rows:
        table.add_row(name, available, detail)
    return table


def print_table(table: Table) -> None:
    Console(soft_wrap=True).print(table)


def images_table(items: Sequence[tuple[Image, list[str]]]) -> Table:
    table = Table("NAME", "DIGEST", "SIZE", "LAYERS", "IN USE", box=None, header_style="bold")
    for item, users in items:
        table.add_row(item.name, item.digest[:19], human_size(item.size_bytes),
                      str(len(item.layers)), ", ".join(users) or "-")
    return table


def print_image(image: Image, users: list[str]) -> None:
    rows = [("name", image.name), ("digest", image.digest), ("source", image.source),
            ("size", human_size(image.size_bytes)),
            ("in use by", ", ".join(users) or "-"),
            ("entrypoint", " ".join(image.config.entrypoint) or "-"),
            ("cmd", " ".join(image.config.cmd) or "-"),
            ("working dir", image.config.working_dir), ("user", image.config.user or "-"),
            ("env", "\n".join(image.config.env) or "-")]
    rows += [(f"layer {i + 1}", key) for i, key in enumerate(image.layer_keys)]
    rows += [("note", note) for note in image.notes[:50]]
    table = Table("FIELD", "VALUE", box=None, header_style="bold", title=f"image {image.name}")
    for key, value in rows:
        table.add_row(key, value)
    print_table(table)
    if image.packages:
        packages = Table("PACKAGE", "VERSION", "ARCH", box=None, header_style="bold",
                         title=f"{len(image.packages)} packages")
        for package in image.packages:
            packages.add_row(package.name, package.version, package.architecture)
        print_table(packages)
