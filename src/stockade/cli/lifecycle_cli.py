"""Docker's lifecycle verbs over the daemon: rm [-f], kill [-s SIG], wait. They read a
container's state and exit code from the daemon's JSON, so they load no model.

`restart` is not here: the engine starts a container only from `created` (runc cannot run a
stopped container's init again), so a stop-then-start would fail on every container."""

import signal as signals
from argparse import Namespace

from stockade.cli import session
from stockade.errors import Conflict, InvalidSpec
from stockade.wire.signals import SIGNAL_NAMES

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
    if name not in SIGNAL_NAMES:
        raise InvalidSpec(f"unknown signal {value!r}; use a name such as TERM, INT, KILL, HUP")
    return name


def rm(args: Namespace) -> None:
    """Remove containers and everything they used; a running one only with -f."""
    client = session.open_json(args.options)
    for handle in args.handles:
        if not args.force and client.inspect_json(handle)["state"] == "running":
            raise Conflict(f"cannot remove running container {handle}: stop it first or "
                           "use rm -f")
        client.destroy(handle)
        print(handle)


def kill(args: Namespace) -> None:
    """Send a signal (KILL by default) to every process of running containers."""
    name = signal_name(args.signal)
    client = session.open_json(args.options)
    for handle in args.handles:
        if client.inspect_json(handle)["state"] != "running":
            raise Conflict(f"container {handle} is not running")
        client.signal(handle, name)
        print(handle)


def wait(args: Namespace) -> None:
    """Block until containers stop, then print each one's exit code."""
    client = session.open_json(args.options)
    for handle in args.handles:
        info = client.wait_json(handle, _WAIT_STEP_S)
        while info.get("exit_code") is None and info["state"] in ("running", "created"):
            info = client.wait_json(handle, _WAIT_STEP_S)
        code = info.get("exit_code")
        print(code if code is not None else "", flush=True)
