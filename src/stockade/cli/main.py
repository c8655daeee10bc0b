"""The `stockade` command line."""

import json
import os
import platform
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer
from typer.core import TyperCommand

from stockade import __version__
from stockade.cli import (
    audit_cli,
    config_cli,
    host_cli,
    image_commands,
    lifecycle_cli,
    network_cli,
    render,
    server_cli,
    vulndb_cli,
)
from stockade.cli import verify as verify_cli
from stockade.cli.parsing import env_pairs, publish, volume
from stockade.cli.session import Options, open_client
from stockade.client import DaemonUnavailable
from stockade.errors import InvalidSpec, StockadeError

# The client and the spec load pydantic: imported by the commands that use them, so
# `--help` and a mistyped flag do not pay for it.
if TYPE_CHECKING:
    from stockade.client import Client
    from stockade.spec import ContainerSpec

PLATFORM_ERROR = 125  # docker's code for "the platform failed", distinct from the app's own
_PASSTHROUGH = {"allow_interspersed_args": False}

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Stockade: every application in its own hardened container.")
app.add_typer(image_commands.app, name="image")
app.add_typer(config_cli.app, name="config")
app.add_typer(vulndb_cli.app, name="vulndb")
app.add_typer(host_cli.app, name="host")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Format = Annotated[str | None, typer.Option(
    "--format", metavar="TEMPLATE", help="Print each item through a template: {{.handle}}, "
    "{{.limits.pids}}, {{json .}}; a 'table ' prefix adds a header.")]
Command = Annotated[list[str] | None, typer.Argument(metavar="COMMAND [ARG...]",
                                                     help="Command and arguments.")]
ImageCommand = Annotated[list[str] | None, typer.Argument(
    metavar="IMAGE [COMMAND]",
    help="The image, then the command; or -- COMMAND for the embedded image.")]


def _print_version(value: bool) -> None:
    if value:
        print(f"stockade {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    ctx: typer.Context,
    root: Annotated[Path | None, typer.Option(
        help="State and store root (STOCKADE_ROOT); for `server` and `audit`.")] = None,
    socket: Annotated[Path | None, typer.Option(help="Daemon socket (STOCKADE_SOCKET).")] = None,
    version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the client's version and exit.")] = False,
) -> None:
    ctx.obj = Options.from_flags(root, socket)


def _engine(ctx: typer.Context) -> "Client":
    options: Options = ctx.obj
    return open_client(options)


def _argv(command: list[str] | None) -> list[str]:
    """The command after `--`; click keeps the separator once positionals have begun."""
    args = list(command or [])
    return args[1:] if args[:1] == ["--"] else args


class NetworkArgs(NamedTuple):
    """The network options shared by run and create."""

    publish: list[str] | None
    groups: list[str] | None
    listen: str | None
    connect: str | None


def _spec(name: str | None, image: str, command: list[str] | None, memory: str | None,
          cpu_shares: int | None, pids: int | None, env: list[str] | None,
          user: str | None, volumes: list[str] | None, tty: bool, cap_add: list[str] | None,
          cpuset_cpus: str | None, writable: list[str] | None, disk: str | None,
          net: NetworkArgs, disable: tuple[bool, bool, bool],
          unsafe_caps: list[str] | None, allow_32bit: bool = False,
          log_opts: list[str] | None = None) -> "ContainerSpec":
    """`disable` holds the --unsafe-disable-{seccomp,userns,mac} flags, in that order."""
    from stockade.spec import ContainerSpec, Limits, LogOptions, ProcessSpec, UnsafeOptions

    limits: dict[str, object] = {"cpu_shares": cpu_shares, "cpuset_cpus": cpuset_cpus}
    if memory is not None:
        limits["memory_bytes"] = memory
    if disk is not None:
        limits["disk_bytes"] = disk
    if pids is not None:
        limits["pids"] = pids
    return ContainerSpec(
        handle=name or f"c-{secrets.token_hex(5)}",
        image=image,
        process=ProcessSpec(args=_argv(command), env=env_pairs(env or []), user=user,
                            terminal=tty),
        limits=Limits.model_validate(limits),
        mounts=[volume(v) for v in volumes or []],
        cap_add=cap_add or [],
        writable_paths=writable or [],
        unsafe=UnsafeOptions(disable_seccomp=disable[0], disable_userns=disable[1],
                             disable_mac=disable[2], cap_add=unsafe_caps or []),
        ports=[publish(p) for p in net.publish or []],
        security_groups=net.groups or [],
        listen_ports=net.listen,
        connect_ports=net.connect,
        allow_32bit=allow_32bit,
        log=LogOptions.model_validate(log_options(log_opts or [])),
    )


def log_options(items: list[str]) -> dict[str, str]:
    """docker's --log-opt max-size=10m / max-file=3 as the spec's log fields."""
    names = {"max-size": "max_bytes", "max-file": "max_files"}
    found = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in names:
            raise InvalidSpec(f"invalid --log-opt {item!r}: use max-size=SIZE or max-file=N")
        found[names[key]] = value
    return found


Name = Annotated[str | None, typer.Option("--name", metavar="NAME", help="Container handle.")]
Image = Annotated[str | None, typer.Option(
    "--image", metavar="IMAGE", help="Image name; the same as IMAGE before the command.")]
DEFAULT_IMAGE = "busybox"  # the embedded image: what `run -- CMD` runs in


class _KeepsArgv(TyperCommand):
    """Keeps the arguments as typed: click drops a leading `--`, and only it tells
    `run -- echo hi` (the embedded image) from `run busybox echo hi`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's own click
        ctx.meta["stockade.argv"] = list(args)
        return super().parse_args(ctx, args)


def _image_and_command(ctx: typer.Context, image: str | None,
                       command: list[str] | None) -> tuple[str, list[str]]:
    """Docker's `[OPTIONS] IMAGE [COMMAND [ARG...]]`, or `[OPTIONS] -- COMMAND...` for the
    embedded image; with --image every positional is the command."""
    args = list(command or [])
    if image is not None:
        return image, _argv(args)
    if args[:1] == ["--"]:
        return DEFAULT_IMAGE, args[1:]
    typed: list[str] = ctx.meta.get("stockade.argv", [])
    start = len(typed) - len(args)
    if not args or (start > 0 and typed[start - 1] == "--"):
        return DEFAULT_IMAGE, args
    return args[0], args[1:]
Memory = Annotated[str | None, typer.Option("--memory", "-m", metavar="SIZE",
                                            help="Memory limit, e.g. 256M.")]
Shares = Annotated[int | None, typer.Option("--cpu-shares", metavar="SHARES",
                                            help="Overrides shares from memory.")]
Pids = Annotated[int | None, typer.Option("--pids", metavar="N", help="Maximum processes.")]
Env = Annotated[list[str] | None, typer.Option("--env", "-e", metavar="NAME=VALUE",
                                                help="Environment variable (repeatable).")]
User = Annotated[str | None, typer.Option("--user", "-u", metavar="USER",
                                          help="NAME, UID or UID:GID.")]
Volume = Annotated[list[str] | None, typer.Option(
    "--volume", "-v", metavar="HOST:CONTAINER[:ro|:rw]", help="Bind a host path (repeatable).")]
CapAdd = Annotated[list[str] | None, typer.Option("--cap-add", metavar="CAP",
                                                  help="Add back one of Docker's defaults.")]
Cpuset = Annotated[str | None, typer.Option("--cpuset-cpus", metavar="CPUS",
                                            help="Pin to CPUs, e.g. 0.")]
Writable = Annotated[list[str] | None, typer.Option("--writable", metavar="PATH",
                                                    help="Another writable directory.")]
NoSeccomp = Annotated[bool, typer.Option("--unsafe-disable-seccomp", metavar="",
                                         help="UNSAFE: no seccomp filter.")]
NoUserns = Annotated[bool, typer.Option("--unsafe-disable-userns", metavar="",
                                        help="UNSAFE: root inside is root on the host.")]
NoMac = Annotated[bool, typer.Option("--unsafe-disable-mac", metavar="",
                                         help="UNSAFE: no Landlock/AppArmor.")]
UnsafeCaps = Annotated[list[str] | None, typer.Option("--unsafe-cap-add", metavar="CAP",
                                                      help="UNSAFE: any extra capability.")]
Disk = Annotated[str | None, typer.Option("--disk", metavar="SIZE",
                                          help="Writable layer quota, e.g. 1G.")]
LogOpt = Annotated[list[str] | None, typer.Option(
    "--log-opt", metavar="max-size=SIZE|max-file=N",
    help="The log's cap per file and how many files are kept (default 10M, 2).")]
I386 = Annotated[bool, typer.Option("--allow-32bit", metavar="", help="Admit 32-bit (i386) "
                                    "programs: a wider kernel surface "
                                    "(docs/security-model.md).")]
Publish = Annotated[list[str] | None, typer.Option(
    "--publish", "-p", metavar="HOST:CONTAINER[/udp]",
    help="HOSTPORT:CONTAINERPORT, or with /udp (repeatable; host port 0 picks one).")]
Groups = Annotated[list[str] | None, typer.Option(
    "--security-group", metavar="NAME",
    help="Bind a security group to this container (repeatable).")]
Listen = Annotated[str | None, typer.Option(
    "--listen", metavar="PORTS",
    help="TCP ports the application may bind besides published ones, e.g. "
         "8080,9000-9010 (Landlock).")]
Connect = Annotated[str | None, typer.Option(
    "--connect-ports", metavar="PORTS", help="TCP ports the application may connect to, or 'none' "
                            "(Landlock, fixed for the container's life; default: the "
                            "firewall alone decides).")]


@app.command(context_settings=_PASSTHROUGH, cls=_KeepsArgv)
def run(
    ctx: typer.Context, command: ImageCommand = None, name: Name = None, image: Image = None,
    memory: Memory = None, cpu_shares: Shares = None, pids: Pids = None, env: Env = None,
    user: User = None, volume_: Volume = None, cap_add: CapAdd = None, cpuset_cpus: Cpuset = None,
    writable: Writable = None, unsafe_disable_seccomp: NoSeccomp = False,
    unsafe_disable_userns: NoUserns = False, unsafe_disable_mac: NoMac = False,
    unsafe_cap_add: UnsafeCaps = None, disk: Disk = None,
    publish_: Publish = None, security_group: Groups = None, listen: Listen = None,
    connect_ports: Connect = None, allow_32bit: I386 = False, log_opt: LogOpt = None,
    detach: Annotated[bool, typer.Option(
        "--detach", "-d", metavar="", help="Run in the background; print the handle.")] = False,
    interactive: Annotated[bool, typer.Option(
        "--interactive", "-i", metavar="", help="Keep stdin open.")] = False,
    tty: Annotated[bool, typer.Option(
        "--tty", "-t", metavar="", help="Allocate a terminal.")] = False,
    rm: Annotated[bool, typer.Option(
        "--rm", metavar="", help="Destroy when the process ends.")] = False,
) -> None:
    """Run a command in a new hardened container; exits with the command's code."""
    image, command = _image_and_command(ctx, image, command)
    spec = _spec(name, image, command, memory, cpu_shares, pids, env, user, volume_, tty,
                 cap_add, cpuset_cpus, writable, disk,
                 NetworkArgs(publish_, security_group, listen, connect_ports),
                 (unsafe_disable_seccomp, unsafe_disable_userns, unsafe_disable_mac),
                 unsafe_cap_add, allow_32bit, log_opt)
    client = _engine(ctx)
    if detach:  # with --rm the daemon destroys it once its process has ended; with -i its
        # monitor keeps stdin open for a later attacher, with -t it holds the terminal
        client.create(spec, start=True, auto_remove=rm, stdin=interactive)
        print(spec.handle)
        return
    from stockade.cli import remote_foreground  # websockets: only streams pay

    raise typer.Exit(remote_foreground.run(client.socket, spec, interactive=interactive,
                                           remove=rm))


@app.command(context_settings=_PASSTHROUGH, cls=_KeepsArgv)
def create(
    ctx: typer.Context, command: ImageCommand = None, name: Name = None, image: Image = None,
    memory: Memory = None, cpu_shares: Shares = None, pids: Pids = None, env: Env = None,
    user: User = None, volume_: Volume = None, cap_add: CapAdd = None, cpuset_cpus: Cpuset = None,
    writable: Writable = None, unsafe_disable_seccomp: NoSeccomp = False,
    unsafe_disable_userns: NoUserns = False, unsafe_disable_mac: NoMac = False,
    unsafe_cap_add: UnsafeCaps = None, disk: Disk = None,
    publish_: Publish = None, security_group: Groups = None, listen: Listen = None,
    connect_ports: Connect = None, allow_32bit: I386 = False, log_opt: LogOpt = None,
    interactive: Annotated[bool, typer.Option(
        "--interactive", "-i", metavar="", help="Keep stdin open for an attacher.")] = False,
    tty: Annotated[bool, typer.Option(
        "--tty", "-t", metavar="", help="Allocate a terminal.")] = False,
) -> None:
    """Create a container without starting it; prints its handle."""
    image, command = _image_and_command(ctx, image, command)
    spec = _spec(name, image, command, memory, cpu_shares, pids, env, user, volume_, tty,
                 cap_add, cpuset_cpus, writable, disk,
                 NetworkArgs(publish_, security_group, listen, connect_ports),
                 (unsafe_disable_seccomp, unsafe_disable_userns, unsafe_disable_mac),
                 unsafe_cap_add, allow_32bit, log_opt)
    _engine(ctx).create(spec, start=False, stdin=interactive)
    print(spec.handle)


@app.command()
def start(ctx: typer.Context, handle: str) -> None:
    """Start a created container."""
    _engine(ctx).start(handle)
    print(handle)


@app.command(name="exec", context_settings=_PASSTHROUGH)
def exec_(
    ctx: typer.Context, handle: str, command: Command = None, env: Env = None, user: User = None,
    interactive: Annotated[bool, typer.Option(
        "--interactive", "-i", metavar="", help="Keep stdin open.")] = False,
    tty: Annotated[bool, typer.Option(
        "--tty", "-t", metavar="", help="Allocate a terminal.")] = False,
) -> None:
    """Run a command in a running container."""
    socket = _engine(ctx).socket
    from stockade.cli import remote_foreground  # websockets: only streams pay

    raise typer.Exit(remote_foreground.exec_(socket, handle, _argv(command),
                                             env_pairs(env or []), user,
                                             interactive=interactive, tty=tty))


@app.command()
def ps(
    ctx: typer.Context, json_: JsonFlag = False, no_trunc: render.NoTrunc = False,
    all_: Annotated[bool, typer.Option("--all", "-a",
                                       help="Every container, not only running ones.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Handles only.")] = False,
    filter_: Annotated[list[str] | None, typer.Option(
        "--filter", "-f", metavar="KEY=VALUE",
        help="name=PART, label=K[=V] or status=STATE (repeatable).")] = None,
    format_: Format = None,
) -> None:
    """List running containers (-a: all of them)."""
    from stockade.cli import filters, template

    wanted = filters.parse(filter_ or [])
    if format_ is not None:
        template.parse(format_)  # refused before the daemon is asked
    if not all_ and "status" not in wanted:  # docker: a status filter shows what it names
        wanted["status"] = ("running",)
    items = [item for item in _engine(ctx).list()
             if filters.matches(item.model_dump(mode="json"), wanted)]
    if quiet:
        for item in items:
            print(item.handle)
    elif format_ is not None:
        template.print_formatted(format_, items)
    elif json_:
        render.emit_json(items)
    else:
        render.print_table(render.containers_table(items), no_trunc)


@app.command()
def inspect(ctx: typer.Context, handle: str, json_: JsonFlag = False,
            no_trunc: render.NoTrunc = False, format_: Format = None) -> None:
    """Show one container."""
    if format_ is not None:
        from stockade.cli import template

        template.parse(format_)
    info = _engine(ctx).inspect(handle)
    if format_ is not None:
        template.print_formatted(format_, [info])
    elif json_:
        render.emit_json(info)
    else:
        render.print_table(render.containers_table([info]), no_trunc)


@app.command()
def logs(
    ctx: typer.Context,
    handle: Annotated[str, typer.Argument(metavar="HANDLE", help="The container.")],
    follow: Annotated[bool, typer.Option(
        "--follow", "-f", metavar="", help="Keep printing output until the container "
        "ends.")] = False,
    tail: Annotated[str, typer.Option(
        "--tail", metavar="N", help="Only the last N lines (records), or all.")] = "all",
    since: Annotated[str | None, typer.Option(
        "--since", metavar="TIME", help="Only output since TIME: RFC 3339 "
        "(2026-12-05T11:54:59Z), unix time, or a duration ago (10m, 1h30m).")] = None,
    until: Annotated[str | None, typer.Option(
        "--until", metavar="TIME", help="Only output before TIME (as --since).")] = None,
    timestamps: Annotated[bool, typer.Option(
        "--timestamps", "-t", metavar="", help="Begin each line with its time.")] = False,
    stdout_only: Annotated[bool, typer.Option("--stdout", metavar="",
                                              help="Only stdout.")] = False,
    stderr_only: Annotated[bool, typer.Option("--stderr", metavar="",
                                              help="Only stderr.")] = False,
) -> None:
    """Print what a container wrote: its stdout to stdout, its stderr to stderr."""
    from stockade.cli import logs_view

    count = logs_view.tail_count(tail)
    begin, end = logs_view.moment("--since", since), logs_view.moment("--until", until)
    printer = logs_view.Printer(sys.stdout.buffer, sys.stderr.buffer, timestamps)
    batches = _engine(ctx).log_batches(
        handle, follow=follow, tail=count, since=begin, until=end,
        stdout=stdout_only or not stderr_only, stderr=stderr_only or not stdout_only)
    try:
        for batch in batches:
            for record in batch:
                printer.write(record)
            printer.flush()
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except BrokenPipeError:  # `logs | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        raise typer.Exit(141) from None


@app.command()
def stop(ctx: typer.Context, handle: str,
         time: Annotated[float, typer.Option("--time", help="Seconds before KILL.")] = 10) -> None:
    """Stop a container: TERM, then KILL after --time seconds."""
    info = _engine(ctx).stop(handle, time)
    print(f"{handle} {info.state} (exit {info.exit_code})")


@app.command()
def destroy(ctx: typer.Context, handles: list[str]) -> None:
    """Destroy containers and everything they used."""
    engine = _engine(ctx)
    for handle in handles:
        engine.destroy(handle)
        print(handle)


@app.command()
def info(ctx: typer.Context, json_: JsonFlag = False, no_trunc: render.NoTrunc = False) -> None:
    """What this host offers and which mechanisms stockade uses."""
    data = _engine(ctx).info()
    if json_:
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
    render.print_table(render.key_value_table(rows, "stockade host features"), no_trunc)


def _mac_reason(mac: str, host: dict[str, dict[str, str]]) -> str:
    if mac == "apparmor":
        return "AppArmor enabled"
    return f"AppArmor not available ({host['apparmor']['detail']})" + (
        "; Landlock used instead" if mac == "landlock" else "; no MAC layer")


@app.command()
def cleanup(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """Release what no container needs: network leftovers, the idle volume store, leftovers."""
    done = _engine(ctx).cleanup()
    if json_:
        render.emit_json(done)
        return
    for line in done or ["nothing to clean up"]:
        print(line)


app.command(name="verify")(verify_cli.verify)
app.command(name="audit")(audit_cli.audit)
app.command(name="server")(server_cli.serve)


@app.command()
def update(
    ctx: typer.Context, handle: str, memory: Memory = None, cpu_shares: Shares = None,
    pids: Pids = None, disk: Disk = None, json_: JsonFlag = False,
) -> None:
    """Change the limits of a container while it runs."""
    from stockade.spec import LimitsPatch

    limits = _engine(ctx).update_limits(handle, LimitsPatch(
        memory_bytes=memory, cpu_shares=cpu_shares, pids=pids, disk_bytes=disk))
    if json_:
        render.emit_json(limits)
        return
    print(f"{handle} memory={limits.memory_bytes} cpu_shares={limits.cpu_shares} "
          f"pids={limits.pids} disk={limits.disk_bytes}")


@app.command()
def stats(ctx: typer.Context, handles: Annotated[list[str] | None, typer.Argument()] = None,
          json_: JsonFlag = False, no_trunc: render.NoTrunc = False) -> None:
    """Memory, CPU, disk and network use per container."""
    client = _engine(ctx)
    names = handles or [info.handle for info in client.list()]
    readings = [client.metrics(name) for name in names]
    if json_:
        render.emit_json(readings)
        return
    render.print_table(render.metrics_table(readings), no_trunc)


@app.command()
def events(
    ctx: typer.Context,
    since: Annotated[int, typer.Option(help="Only events after this sequence number.")] = 0,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Wait for more.")] = False,
    handle: Annotated[str | None, typer.Option("--container", help="One container.")] = None,
) -> None:
    """Container events: exited, out of memory, unsafe options, Landlock denials; one JSON
    object a line."""
    client = _engine(ctx)
    while True:
        found = client.events(since, handle, wait_s=10 if follow else 0)
        for event in found:
            print(json.dumps(event), flush=True)
            since = max(since, int(event["seq"]))
        if not follow:
            return


@app.command()
def version(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """The client's and the daemon's versions, and the runc and kernel the daemon uses."""
    client = {"version": __version__, "python": platform.python_version()}
    try:
        daemon: dict[str, Any] | None = _engine(ctx).version()
    except DaemonUnavailable as exc:
        daemon, unreachable = None, exc
    if json_:
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


app.registered_commands += network_cli.commands.registered_commands
app.registered_commands += lifecycle_cli.commands.registered_commands
app.add_typer(network_cli.groups, name="security-group")
app.add_typer(network_cli.policies, name="network-policy")


def _fail(message: str) -> None:
    print(f"stockade: error: {message}", file=sys.stderr)
    sys.exit(PLATFORM_ERROR)


def main() -> None:
    try:
        app()
    except StockadeError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as exc:
        _fail(str(exc))
    except Exception as exc:
        _fail_invalid(exc)


def _fail_invalid(exc: Exception) -> None:
    """A spec the CLI built from bad flags: pydantic's error, in one line."""
    if "pydantic" not in sys.modules:  # nothing was validated, so it is not a ValidationError
        raise exc
    from pydantic import ValidationError

    from stockade.spec.validation import first_error

    if not isinstance(exc, ValidationError):
        raise exc
    _fail(first_error(exc.errors(), located="invalid {where}: {message}"))


if __name__ == "__main__":
    main()
