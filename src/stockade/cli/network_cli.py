"""Network commands: net-in, security-group, network-policy, network-log, cleanup."""

import json
import time
from argparse import Namespace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from stockade.cli import render, session
from stockade.cli.tables import Column, Sheet
from stockade.errors import InvalidSpec

if TYPE_CHECKING:
    from stockade.client import Client
    from stockade.spec import NetworkPolicy


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


def _engine(args: Namespace) -> "Client":
    return session.open_client(args.options)


def net_in(args: Namespace) -> None:
    """Publish a container port on the host."""
    info = _engine(args).net_in(args.handle, args.host_port, args.container_port,
                                _protocol(args.protocol), args.host_ip)
    if args.json:
        render.emit_json([p.model_dump(mode="json") for p in info.ports])
        return
    for port in info.ports:
        where = f"{port.host_ip}:" if port.host_ip is not None else ""
        print(f"{where}{port.host_port}:{port.container_port}/{port.protocol}")


def group_create(args: Namespace) -> None:
    """Create a security group from a rules file."""
    group = _engine(args).net.create_group(args.name, _read_rules(args.rules))
    print(f"{group.name} ({len(group.rules)} rules)")


def group_update(args: Namespace) -> None:
    """Replace a group's rules; running containers follow at once."""
    group = _engine(args).net.update_group(args.name, _read_rules(args.rules))
    print(f"{group.name} ({len(group.rules)} rules)")


def group_bind(args: Namespace) -> None:
    """Bind a group to one container or to every container."""
    _engine(args).net.bind(args.name, _target(args.container, args.default))


def group_unbind(args: Namespace) -> None:
    """Undo a binding."""
    _engine(args).net.unbind(args.name, _target(args.container, args.default))


def group_ls(args: Namespace) -> None:
    """List groups and where they are bound."""
    items = _engine(args).net.list_groups()
    if args.json:
        render.emit_json(items)
        return
    rows = [(i["name"], str(i["rules"]), "yes" if i["default"] else "",
             ", ".join(i["containers"])) for i in items]
    columns = (Column("NAME", essential=True), Column("RULES", priority=2),
               Column("DEFAULT", priority=1), Column("CONTAINERS", priority=3, wrap=True))
    render.print_table(Sheet(columns, rows), args.no_trunc)


def group_show(args: Namespace) -> None:
    """Print a group's rules (the rules-file format)."""
    group = _engine(args).net.show_group(args.name)
    rules = [r.model_dump(mode="json", exclude_defaults=True) for r in group.rules]
    if args.json:
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
    render.print_table(Sheet(columns, rows), args.no_trunc)


def group_rm(args: Namespace) -> None:
    """Remove an unbound group."""
    _engine(args).net.remove_group(args.name)


def _policy(args: Namespace) -> "NetworkPolicy":
    from stockade.spec import NetworkPolicy

    return NetworkPolicy(source=args.source, destination=args.destination, port=args.port,
                         protocol=_protocol(args.protocol))


def policy_allow(args: Namespace) -> None:
    """Let SOURCE open connections to DESTINATION on one port (one direction)."""
    _engine(args).net.allow(_policy(args))


def policy_deny(args: Namespace) -> None:
    """Withdraw an allow."""
    _engine(args).net.deny(_policy(args))


def policy_ls(args: Namespace) -> None:
    """List container-to-container allowances."""
    items = _engine(args).net.policies()
    if args.json:
        render.emit_json(items)
        return
    rows = [(p.source, p.destination, p.protocol, str(p.port)) for p in items]
    # Each row is one allowance; every part of it is needed to read it right.
    columns = (Column("SOURCE", essential=True), Column("DESTINATION", essential=True),
               Column("PROTOCOL", essential=True), Column("PORT", essential=True))
    render.print_table(Sheet(columns, rows), args.no_trunc)


def network_log(args: Namespace) -> None:
    """Print logged and denied packets (the daemon records them as JSON lines)."""
    client = session.open_json(args.options)
    since: int = args.since
    while True:
        records = client.network_log(since)
        for record in records:
            print(json.dumps(record), flush=True)
        since += len(records)
        if not args.follow:
            return
        time.sleep(0.5)
