"""Tables and JSON for people and scripts.

Containers are printed from the daemon's JSON (ContainerInfo's fields), so `ps` and
`inspect` load no model; images and metrics arrive as models with the commands that ask
for them."""

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from stockade.cli.tables import Column, Sheet, print_table
from stockade.sizes import format_size, human_size

if TYPE_CHECKING:
    from stockade.spec import ContainerMetrics
    from stockade.wire.images import Image

__all__ = ["containers_table", "emit_json", "images_table", "key_value_table",
           "metrics_table", "print_image", "print_table"]


def emit_json(value: Any) -> None:
    if hasattr(value, "model_dump"):  # a pydantic model, without importing pydantic
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if hasattr(v, "model_dump") else v for v in value]
    print(json.dumps(value, indent=2))


def _age(since: float) -> str:
    seconds = int(time.time() - since)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


# The handle and state name a container; then what runs and how to reach it, as docker
# ps shows them; the limits and usage last (`stats` has them too).
_CONTAINER_COLUMNS = (
    Column("HANDLE", essential=True), Column("STATE", essential=True),
    Column("IMAGE", priority=9), Column("COMMAND", priority=8, cap=20),
    Column("IP", priority=6), Column("PORTS", priority=7, wrap=True),
    Column("MEMORY", priority=3), Column("CPU", priority=1), Column("PIDS", priority=1),
    Column("DISK", priority=2), Column("CREATED", priority=5),
    Column("EVENTS", priority=4, wrap=True),
)


def port_text(port: Mapping[str, Any]) -> str:
    """docker's form: 127.0.0.1:8080->80/tcp on one host address, 8080->80/tcp on all."""
    where = f"{port['host_ip']}:" if port.get("host_ip") else ""
    return f"{where}{port['host_port']}->{port['container_port']}/{port.get('protocol', 'tcp')}"


def containers_table(items: Sequence[Mapping[str, Any]]) -> Sheet:
    """Containers as the daemon describes them (ContainerInfo's JSON)."""
    rows = []
    for c in items:
        state = c["state"] if c.get("exit_code") is None else f"{c['state']} ({c['exit_code']})"
        ports = ", ".join(port_text(p) for p in c.get("ports") or [])
        limits = c["limits"]
        rows.append((c["handle"], state, c["image"], " ".join(c.get("command") or []),
                     c.get("ip") or "", ports, format_size(limits["memory_bytes"]),
                     str(limits["cpu_shares"]), str(limits["pids"]), _disk(c),
                     _age(c["created_at"]), ", ".join(c.get("events") or [])))
    return Sheet(_CONTAINER_COLUMNS, rows)


def _size_or_dash(value: int | None) -> str:
    return "-" if value is None else f"{value / (1 << 20):.1f}M"


_METRICS_COLUMNS = (
    Column("HANDLE", essential=True), Column("MEMORY", priority=6),
    Column("CPU (s)", priority=5), Column("PIDS", priority=3), Column("DISK", priority=4),
    Column("LOG", priority=1), Column("NET TX", priority=2), Column("NET RX", priority=2),
)


def metrics_table(items: Sequence["ContainerMetrics"]) -> Sheet:
    rows = [(m.handle,
             f"{_size_or_dash(m.memory_bytes)}/{format_size(m.memory_limit_bytes)}",
             "-" if m.cpu_seconds is None else f"{m.cpu_seconds:.2f}",
             "-" if m.pids is None else str(m.pids),
             f"{_size_or_dash(m.disk_used_bytes)}/{format_size(m.disk_limit_bytes)}",
             _size_or_dash(m.log_bytes), _size_or_dash(m.network_tx_bytes),
             _size_or_dash(m.network_rx_bytes))
            for m in items]
    return Sheet(_METRICS_COLUMNS, rows)


def _disk(info: Mapping[str, Any]) -> str:
    """Writable layer use against its quota, e.g. '12.0M/1G btrfs'."""
    disk = info.get("disk")
    if disk is None:
        return format_size(info["limits"]["disk_bytes"])
    used = "?" if disk["used_bytes"] is None else f"{disk['used_bytes'] / (1 << 20):.1f}M"
    return f"{used}/{format_size(disk['limit_bytes'])} {disk['backend']}"


def key_value_table(rows: list[tuple[str, str, str]], title: str) -> Sheet:
    # The feature and its answer are the point of the table; the detail folds instead.
    columns = (Column("FEATURE", essential=True), Column("AVAILABLE", essential=True),
               Column("DETAIL", priority=None, wrap=True))
    return Sheet(columns, rows, title=title)


def images_table(items: Sequence[tuple["Image", list[str]]]) -> Sheet:
    # 19 cells keep "sha256:" and 12 hex digits, docker's short ID; no ellipsis, so the
    # prefix can still be pasted.
    columns = (Column("NAME", essential=True), Column("DIGEST", priority=4, cap=19,
                                                      ellipsis=False),
               Column("SIZE", priority=3), Column("LAYERS", priority=1),
               Column("IN USE", priority=2, wrap=True))
    rows = [(item.name, item.digest, human_size(item.size_bytes), str(len(item.layers)),
             ", ".join(users) or "-") for item, users in items]
    return Sheet(columns, rows)


def print_image(image: "Image", users: list[str], no_trunc: bool = False) -> None:
    rows = [("name", image.name), ("digest", image.digest), ("source", image.source),
            ("size", human_size(image.size_bytes)),
            ("in use by", ", ".join(users) or "-"),
            ("entrypoint", " ".join(image.config.entrypoint) or "-"),
            ("cmd", " ".join(image.config.cmd) or "-"),
            ("working dir", image.config.working_dir), ("user", image.config.user or "-"),
            ("env", "\n".join(image.config.env) or "-")]
    rows += [(f"layer {i + 1}", key) for i, key in enumerate(image.layer_keys)]
    rows += [("note", note) for note in image.notes[:50]]
    fields = (Column("FIELD", essential=True), Column("VALUE", priority=None, wrap=True))
    print_table(Sheet(fields, rows, title=f"image {image.name}"), no_trunc)
    if image.packages:
        # A package without its version says little, so the version folds rather than goes.
        columns = (Column("PACKAGE", essential=True),
                   Column("VERSION", priority=None, wrap=True), Column("ARCH", priority=1))
        packages = [(p.name, p.version, p.architecture) for p in image.packages]
        print_table(Sheet(columns, packages, title=f"{len(image.packages)} packages"),
                    no_trunc)
