"""Network commands: net-in, security-group, network-policy, network-log, cleanup."""

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from stockade.cli import render
from stockade.cli.session import open_client
from stockade.cli.tables import Column, Sheet
from stockade.errors import InvalidSpec

if TYPE_CHECKING:
    from stockade.client import Client

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Protocol = Annotated[str, typer.Option("--protocol", help="tcp or udp.")]


def _protocol(value: str) -> Literal["tcp", "udp"]:
    if value not in ("tcp", "udp"):
        raise InvalidSpec(f"--protocol {value!r}: use tcp or udp")
    return "tcp" if value == "tcp" else "udp"


def _read_rules(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidSpec(f"cannot read rules file {path}: {exc.strerror}") from exc
    from stockade.spec import parse_rules  # pydantic: only the commands that take rules

    return parse_rules(text)


def _target(container: str | None, default: bool) -> str | None:
    if (container is None) == (not default):
        raise InvalidSpec("give exactly one of --container HANDLE or --default")
    return container


commands = typer.Typer()  # top-level commands, merged into the main app
groups = typer.Typer(no_args_is_help=True, help="Egress security groups.")
policies = typer.Typer(no_args_is_help=True, help="Container-to-container policy.")


def _engine(ctx: typer.Context) -> "Client":
    return open_client(ctx.obj)



@commands.command("net-in")
def net_in(ctx: typer.Context, handle: str,
           host_port: Annotated[int, typer.Option("--host-port", help="0 picks one.")],
           container_port: Annotated[int, typer.Option("--container-port")],
           protocol: Protocol = "tcp", json_: JsonFlag = False) -> None:
    """Publish a container port on the host."""
    info = _engine(ctx).net_in(handle, host_port, container_port, _protocol(protocol))
    if json_:
        render.emit_json([p.model_dump(mode="json") for p in info.ports])
        return
    for port in info.ports:
        print(f"{port.host_port}:{port.container_port}/{port.protocol}")

Rules = Annotated[Path, typer.Option("--rules", help="JSON file: a list of rules.")]
Container = Annotated[str | None, typer.Option("--container", help="Container handle.")]
Default = Annotated[bool, typer.Option("--default", help="Every container (platform).")]

@groups.command("create")
def group_create(ctx: typer.Context, name: str, rules: Rules) -> None:
    """Create a security group from a rules file."""
    group = _engine(ctx).net.create_group(name, _read_rules(rules))
    print(f"{group.name} ({len(group.rules)} rules)")

@groups.command("update")
def group_update(ctx: typer.Context, name: str, rules: Rules) -> None:
    """Replace a group's rules; running containers follow at once."""
    group = _engine(ctx).net.update_group(name, _read_rules(rules))
    print(f"{group.name} ({len(group.rules)} rules)")

@groups.command("bind")
def group_bind(ctx: typer.Context, name: str, container: Container = None,
               default: Default = False) -> None:
    """Bind a group to one container or to every container."""
    _engine(ctx).net.bind(name, _target(container, default))

@groups.command("unbind")
def group_unbind(ctx: typer.Context, name: str, container: Container = None,
                 default: Default = False) -> None:
    """Undo a binding."""
    _engine(ctx).net.unbind(name, _target(container, default))

@groups.command("ls")
def group_ls(ctx: typer.Context, json_: JsonFlag = False,
             no_trunc: render.NoTrunc = False) -> None:
    """List groups and where they are bound."""
    items = _engine(ctx).net.list_groups()
    if json_:
        render.emit_json(items)
        return
    rows = [(i["name"], str(i["rules"]), "yes" if i["default"] else "",
             ", ".join(i["containers"])) for i in items]
    columns = (Column("NAME", essential=True), Column("RULES", priority=2),
               Column("DEFAULT", priority=1), Column("CONTAINERS", priority=3, wrap=True))
    render.print_table(Sheet(columns, rows), no_trunc)

@groups.command("show")
def group_show(ctx: typer.Context, name: str, json_: JsonFlag = False,
               no_trunc: render.NoTrunc = False) -> None:
    """Print a group's rules (the rules-file format)."""
    group = _engine(ctx).net.show_group(name)
    rules = [r.model_dump(mode="json", exclude_defaults=True) for r in group.rules]
    if json_:
        render.emit_json(rules)
        return
    rows = [(r.protocol, ",".join(r.destinations), r.ports or "",
             "" if r.icmp_type is None else f"{r.icmp_type}/{r.icmp_code or 'any'}",
             "yes" if r.log else "") for r in group.rules]
    # A rule read without its destinations or ports would allow more than it does: no
    # column leaves, the destinations fold instead.
    columns = (Column("PROTOCOL", essential=True),
               Column("DESTINATIONS", priority=None, wrap=True), Column("PORTS", essential=True),
               Column("ICMP", essential=True), Column("LOG", essential=True))
    render.print_table(Sheet(columns, rows), no_trunc)

@groups.command("rm")
def group_rm(ctx: typer.Context, name: str) -> None:
    """Remove an unbound group."""
    _engine(ctx).net.remove_group(name)

Port = Annotated[int, typer.Option("--port", help="Destination port.")]

@policies.command("allow")
def policy_allow(ctx: typer.Context, source: str, destination: str, port: Port,
                 protocol: Protocol = "tcp") -> None:
    """Let SOURCE open connections to DESTINATION on one port (one direction)."""
    from stockade.spec import NetworkPolicy

    _engine(ctx).net.allow(NetworkPolicy(source=source, destination=destination,
                                           port=port, protocol=_protocol(protocol)))

@policies.command("deny")
def policy_deny(ctx: typer.Context, source: str, destination: str, port: Port,
                protocol: Protocol = "tcp") -> None:
    """Withdraw an allow."""
    from stockade.spec import NetworkPolicy

    _engine(ctx).net.deny(NetworkPolicy(source=source, destination=destination,
                                          port=port, protocol=_protocol(protocol)))

@policies.command("ls")
def policy_ls(ctx: typer.Context, json_: JsonFlag = False,
              no_trunc: render.NoTrunc = False) -> None:
    """List container-to-container allowances."""
    items = _engine(ctx).net.policies()
    if json_:
        render.emit_json(items)
        return
    rows = [(p.source, p.destination, p.protocol, str(p.port)) for p in items]
    # Each row is one allowance; every part of it is needed to read it right.
    columns = (Column("SOURCE", essential=True), Column("DESTINATION", essential=True),
               Column("PROTOCOL", essential=True), Column("PORT", essential=True))
    render.print_table(Sheet(columns, rows), no_trunc)


@commands.command("network-log")
def network_log(ctx: typer.Context,
                follow: Annotated[bool, typer.Option("--follow", "-f",
                                                     help="Keep printing new records.")] = False,
                since: Annotated[int, typer.Option(help="Skip this many records.")] = 0) -> None:
    """Print logged and denied packets (the daemon records them as JSON lines)."""
    client = _engine(ctx)
    while True:
        records = client.network_log(since)
        for record in records:
            print(json.dumps(record), flush=True)
        since += len(records)
        if not follow:
            return
        time.sleep(0.5)
