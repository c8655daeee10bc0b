"""Commands about the host and the daemon: info, cleanup, version, events. Their answers
are JSON documents printed as they come, so none of them loads a model."""

import json
import platform
from argparse import Namespace
from typing import Any

from stockade import __version__
from stockade.cli import render, session
from stockade.client.errors import DaemonUnavailable


def info(args: Namespace) -> None:
    """What this host offers and which mechanisms stockade uses."""
    data = session.open_json(args.options).info_json()
    if args.json:
        render.emit_json(data)
        return
    host = data["host"]
    rows = [("kernel", "", f"{host['kernel']} {host['arch']}, {host['cpus']} CPUs, "
             f"{host['memory_bytes'] / (1 << 30):.1f} GiB memory")]
    for key in ("user_namespaces", "seccomp", "apparmor", "landlock", "overlayfs", "runc"):
        rows.append((key, "yes" if host[key]["available"] else "no", host[key]["detail"]))
    rows.append(("cgroups", f"v{host['cgroup_version']}", ", ".join(host["cgroup_controllers"])))
    rows.append(("runc version", "", str(host["runc_version"])))
    if "runc_minimum" in data:  # older daemons do not say
        fix = data["runc_minimum"]
        rows.append(("runc minimum", "yes" if fix["available"] else "no", fix["detail"]))
    rows.append(("MAC layer", data["mac"], _mac_reason(data["mac"], host)))
    if "landlock_events" in data:  # a daemon's answer: whether denials become events
        landlock = data["landlock_events"]
        rows.append(("Landlock denial events", "yes" if landlock["available"] else "no",
                     landlock["detail"]))
    quota = data["quota"]
    for candidate in quota["candidates"]:
        rows.append((f"quota: {candidate['name']}", "yes" if candidate["available"] else "no",
                     candidate["detail"]))
    rows.append(("disk quota backend", str(quota["active"] or "none"), quota["reason"]))
    if "host_baseline" in data:  # a daemon's answer (docs/host.md)
        rows.append(("host baseline", "", data["host_baseline"]))
    render.print_table(render.key_value_table(rows, "stockade host features"), args.no_trunc)


def _mac_reason(mac: str, host: dict[str, dict[str, str]]) -> str:
    if mac == "apparmor":
        return "AppArmor enabled"
    return f"AppArmor not available ({host['apparmor']['detail']})" + (
        "; Landlock used instead" if mac == "landlock" else "; no MAC layer")


def cleanup(args: Namespace) -> None:
    """Release what no container needs: network leftovers, the idle volume store, leftovers."""
    done = session.open_json(args.options).cleanup()
    if args.json:
        render.emit_json(done)
        return
    for line in done or ["nothing to clean up"]:
        print(line)


def events(args: Namespace) -> None:
    """Container events, one JSON object a line; with -f, waits for more."""
    client = session.open_json(args.options)
    since: int = args.since
    while True:
        found = client.events_json(since, args.container, wait_s=10 if args.follow else 0)
        for event in found:
            print(json.dumps(event), flush=True)
            since = max(since, int(event["seq"]))
        if not args.follow:
            return


def version(args: Namespace) -> None:
    """The client's and the daemon's versions, and the runc and kernel the daemon uses."""
    client = {"version": __version__, "python": platform.python_version()}
    try:
        daemon: dict[str, Any] | None = session.open_json(args.options).version()
    except DaemonUnavailable as exc:
        daemon, unreachable = None, exc
    if args.json:
        render.emit_json({"client": client, "daemon": daemon})
    else:
        print(f"client:  stockade {client['version']} (python {client['python']})")
        if daemon is not None:
            print(f"daemon:  stockade {daemon['version']} (API {daemon['api']}, "
                  f"python {daemon['python']})")
            print(f"runc:    {daemon['runc'] or 'not found'} ({daemon['runc_binary']})")
            print(f"kernel:  {daemon['kernel']} {daemon['arch']}")
    if daemon is None:  # like docker: the client's part, then the platform error
        raise unreachable
