"""Commands that make, start, change and end containers: run, create, start, exec, stop,
destroy, update.

`run` and `create` send the container as the JSON of a ContainerSpec and the daemon
checks it: a bad value is refused there in one line, before anything is made. The CLI does
not load the spec's pydantic models to check it first, because loading them costs about
twice the CLI's whole budget for `run --rm -- true` (issue 18: 40 ms; docs/performance.md,
section 7), and the daemon's check is the one that counts anyway. The process stream
(client/streams.py) is the standard library's, so a foreground run loads no models."""

import os
from argparse import Namespace
from pathlib import Path
from typing import Any

from stockade.cli import session
from stockade.cli.parser import DEFAULT_IMAGE
from stockade.cli.parsing import env_pairs, publish, volume
from stockade.errors import InvalidSpec


def strip_dashes(command: list[str]) -> list[str]:
    """The command after a leading `--`."""
    return command[1:] if command[:1] == ["--"] else command


def image_and_command(image: str | None, rest: list[str]) -> tuple[str, list[str]]:
    """Docker's `[OPTIONS] IMAGE [COMMAND [ARG...]]`, or `[OPTIONS] -- COMMAND...` for the
    embedded image; with --image every positional is the command. `rest` is the line as
    typed from the first positional or `--` on."""
    if image is not None:
        return image, strip_dashes(rest)
    if not rest:
        return DEFAULT_IMAGE, []
    if rest[0] == "--":
        return DEFAULT_IMAGE, rest[1:]
    return rest[0], rest[1:]


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


def env_file_pairs(files: list[str]) -> dict[str, str]:
    """docker's --env-file: NAME=VALUE per line, # comments and blank lines skipped, a NAME
    alone takes our own value (and is left out when we have none)."""
    found: dict[str, str] = {}
    for name in files:
        try:
            lines = Path(name).read_text().splitlines()
        except OSError as exc:
            raise InvalidSpec(f"--env-file {name}: {exc.strerror}") from None
        for number, line in enumerate(lines, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            key, sep, value = text.partition("=")
            if not key or any(c.isspace() for c in key):
                raise InvalidSpec(f"--env-file {name}, line {number}: not NAME=VALUE")
            if sep:
                found[key] = value
            elif key in os.environ:
                found[key] = os.environ[key]
    return found


def label_pairs(items: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        key, _, value = item.partition("=")
        if not key:
            raise InvalidSpec(f"invalid label {item!r}: use KEY=VALUE")
        pairs.append((key, value))
    return pairs


def container_spec(args: Namespace) -> dict[str, Any]:
    """The JSON of the ContainerSpec `run` or `create` describes (their options:
    parser.add_container_options). Only what was given: the daemon fills in its defaults."""
    image, command = image_and_command(args.image, args.rest)
    limits = {key: value for key, value in (
        ("memory_bytes", args.memory), ("disk_bytes", args.disk), ("pids", args.pids),
        ("cpus", args.cpus), ("cpu_shares", args.cpu_shares),
        ("cpuset_cpus", args.cpuset_cpus)) if value is not None}
    process: dict[str, Any] = {"args": command, "terminal": bool(args.tty)}
    env = {**env_file_pairs(args.env_files or []), **env_pairs(args.env or [])}
    if env:
        process["env"] = env
    for key, value in (("user", args.user), ("cwd", args.workdir)):
        if value is not None:
            process[key] = value
    if args.entrypoint is not None:  # "" runs the command alone, without the image's
        process["entrypoint"] = [args.entrypoint] if args.entrypoint else []
    spec: dict[str, Any] = {
        "handle": args.name or f"c-{os.urandom(5).hex()}", "image": image,
        "process": process, "limits": limits,
        "log": log_options(args.log_opts or []),
        "properties": dict(label_pairs(args.labels or [])),
        "mounts": [volume(v) for v in args.volumes or []],
        "ports": [publish(p) for p in args.publish or []],
        "cap_add": args.cap_add or [], "writable_paths": args.writable or [],
        "security_groups": args.security_groups or [],
        "allow_32bit": bool(args.allow_32bit),
        "unsafe": {"disable_seccomp": bool(args.unsafe_disable_seccomp),
                   "disable_userns": bool(args.unsafe_disable_userns),
                   "disable_mac": bool(args.unsafe_disable_mac),
                   "cap_add": args.unsafe_cap_add or []},
    }
    for key, value in (("hostname", args.hostname), ("listen_ports", args.listen),
                       ("connect_ports", args.connect_ports)):
        if value is not None:
            spec[key] = value
    return spec


def run(args: Namespace) -> int:
    """Run a command in a new container; the command's exit code (or 0 with -d)."""
    spec = container_spec(args)
    client = session.open_json(args.options)
    if args.detach:  # with --rm the daemon destroys it once its process has ended; with -i
        # its monitor keeps stdin open for a later attacher, with -t it holds the terminal
        client.create_json(spec, start=True, auto_remove=args.rm, stdin=args.interactive)
        print(spec["handle"])
        return 0
    from stockade.cli import remote_foreground

    return remote_foreground.run(client, spec, interactive=args.interactive, remove=args.rm)


def create(args: Namespace) -> None:
    spec = container_spec(args)
    session.open_json(args.options).create_json(spec, start=False, stdin=args.interactive)
    print(spec["handle"])


def start(args: Namespace) -> None:
    session.open_client(args.options).start(args.handle)
    print(args.handle)


def exec_(args: Namespace) -> int:
    """`exec [OPTIONS] HANDLE [--] COMMAND...`: the command's exit code."""
    rest = strip_dashes(args.rest)
    handle, command = rest[0], strip_dashes(rest[1:])
    transport = session.open_json(args.options).transport
    from stockade.cli import remote_foreground

    return remote_foreground.exec_(transport, handle, command, env_pairs(args.env or []),
                                   args.user, interactive=args.interactive, tty=args.tty)


def stop(args: Namespace) -> None:
    info = session.open_client(args.options).stop(args.handle, args.time)
    print(f"{args.handle} {info.state} (exit {info.exit_code})")


def restart(args: Namespace) -> None:
    client = session.open_json(args.options)
    for handle in args.handles:
        info = client.restart_json(handle, args.time)
        print(f"{handle} {info['state']}")


def attach(args: Namespace) -> int:
    """Follow the init; its exit code once it ends, 130 when we detach with ^C."""
    client = session.open_json(args.options)
    tty = bool(client.process_json(args.handle, "init").get("tty"))
    from stockade.client import streams

    try:
        return streams.attach(client.transport, args.handle, "init",
                              None if args.no_stdin else 0, 1, 2, tty,
                              after=None if args.logs else "end")
    except KeyboardInterrupt:
        return 130


def destroy(args: Namespace) -> None:
    client = session.open_json(args.options)
    for handle in args.handles:
        client.destroy(handle)
        print(handle)


def update(args: Namespace) -> None:
    from stockade.spec import LimitsPatch

    limits = session.open_client(args.options).update_limits(args.handle, LimitsPatch(
        memory_bytes=args.memory, cpu_shares=args.cpu_shares, pids=args.pids,
        disk_bytes=args.disk, cpus=args.cpus))
    if args.json:
        from stockade.cli import render  # its tables: only what prints one pays

        render.emit_json(limits)
        return
    print(f"{args.handle} memory={limits.memory_bytes} cpu_shares={limits.cpu_shares} "
          f"pids={limits.pids} disk={limits.disk_bytes}")
