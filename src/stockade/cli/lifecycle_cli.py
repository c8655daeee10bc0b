"""Docker's lifecycle verbs over the daemon: rm [-f], kill [-s SIG], wait.

`restart` is not here: the engine starts a container only from `created` (runc cannot run a
stopped container's init again), so a stop-then-start would fail on every container."""

import signal as signals
from typing import Annotated

import typer

from stockade.cli.session import open_client
from stockade.errors import Conflict, InvalidSpec

commands = typer.Typer()

Handles = Annotated[list[str], typer.Argument(metavar="HANDLE", help="Containers.")]

# What the daemon's signal routes accept (wire.process.SignalName: every signal with a
# stable name), computed here so parsing a flag does not load the models.
_SIGNALS = tuple(sorted(s.name.removeprefix("SIG") for s in signals.Signals
                        if not s.name.startswith("SIGRT")))
# The route waits at most this long per call; `wait` asks again until the process ends.
_WAIT_STEP_S = 60.0


def signal_name(value: str) -> str:
    """`KILL`, `SIGKILL`, `kill` or `9` as the daemon's name for it."""
    name = value.strip().upper().removeprefix("SIG")
    if name.isdigit():
        try:
            name = signals.Signals(int(name)).name.removeprefix("SIG")
        except ValueError:
            name = value
    if name not in _SIGNALS:
        raise InvalidSpec(f"unknown signal {value!r}; use a name such as TERM, INT, KILL, HUP")
    return name


@commands.command()
def rm(ctx: typer.Context, handles: Handles,
       force: Annotated[bool, typer.Option("--force", "-f", metavar="",
                                           help="Kill and remove a running container.")]
       = False) -> None:
    """Remove containers and everything they used; a running one only with -f."""
    client = open_client(ctx.obj)
    for handle in handles:
        if not force and client.inspect(handle).state == "running":
            raise Conflict(f"cannot remove running container {handle}: stop it first or "
                           "use rm -f")
        client.destroy(handle)
        print(handle)


@commands.command()
def kill(ctx: typer.Context, handles: Handles,
         signal: Annotated[str, typer.Option("--signal", "-s", metavar="SIGNAL",
                                             help="Signal to send (name or number).")]
         = "KILL") -> None:
    """Send a signal (KILL by default) to every process of running containers."""
    name = signal_name(signal)
    client = open_client(ctx.obj)
    for handle in handles:
        if client.inspect(handle).state != "running":
            raise Conflict(f"container {handle} is not running")
        client.signal(handle, name)
        print(handle)


@commands.command()
def wait(ctx: typer.Context, handles: Handles) -> None:
    """Block until containers stop, then print each one's exit code."""
    client = open_client(ctx.obj)
    for handle in handles:
        info = client.wait(handle, _WAIT_STEP_S)
        while info.exit_code is None and info.state in ("running", "created"):
            info = client.wait(handle, _WAIT_STEP_S)
        print(info.exit_code if info.exit_code is not None else "")
