"""Run or exec in the foreground through the daemon: our stdio becomes the process's.

Exit with the process's code, a terminal with -t, our stdin with -i, destroy with --rm even
on failure, the output also in the logs: the daemon runs the container and holds its
stdio; we only relay the process stream. Requests and answers are JSON, checked by the
daemon (cli/containers.py says why the CLI loads no models).
"""

import contextlib
import sys
import time
from typing import Any
from urllib.parse import quote

from stockade.client import streams
from stockade.client.base import JsonClient
from stockade.client.transport import UnixTransport
from stockade.errors import StockadeError

_STOP_GRACE_S = 2.0
_POLL_S = 0.1


def run(client: JsonClient, spec: dict[str, Any], interactive: bool, remove: bool) -> int:
    """Create attached (the JSON of a ContainerSpec), start once the stream is open, relay
    until the init ends. With `remove` this returns as soon as the exit code is known: the
    daemon removes the container once the stream has sent it (issue 19); only a run that
    failed before it is removed here."""
    handle = spec["handle"]
    with client:
        client.create_json(spec, attach=True, auto_remove=remove)
        try:
            return _attach_init(client, handle, bool(spec["process"].get("terminal")),
                                interactive)
        except BaseException:
            if remove:
                with contextlib.suppress(StockadeError):
                    client.destroy(handle)
            raise


def _attach_init(client: JsonClient, handle: str, tty: bool, interactive: bool) -> int:
    def start() -> None:  # only now: the daemon keeps all output for an open stream
        client.start_json(handle)

    try:
        ended = streams.attach_result(client.transport, handle, "init",
                                      0 if interactive else None, 1, 2, tty,
                                      close_stdin=not interactive, on_attached=start)
    except KeyboardInterrupt:
        return _stop(client, handle)
    if ended.oom_killed:
        print(f"stockade: container {handle} was killed: out of memory", file=sys.stderr)
    return ended.exit_code


def _stop(client: JsonClient, handle: str) -> int:
    """^C: TERM, then KILL after a grace period, as `stockade stop` does; the exit code."""
    for name in ("TERM", "KILL"):
        with contextlib.suppress(StockadeError):  # it may have ended already
            streams.request_json(client.transport, "POST",
                                 f"/v1/containers/{quote(handle)}/processes/init/signal",
                                 {"signal": name})
        deadline = time.monotonic() + _STOP_GRACE_S
        while time.monotonic() < deadline:
            code = client.inspect_json(handle).get("exit_code")
            if code is not None:
                return int(code)
            time.sleep(_POLL_S)
    raise StockadeError(f"container {handle} did not stop")


def exec_(transport: UnixTransport, handle: str, command: list[str], env: dict[str, str],
          user: str | None, interactive: bool, tty: bool) -> int:
    """Run a command in a running container through the daemon; its exit code. The daemon
    checks the request (a ProcessRequest's JSON)."""
    request: dict[str, Any] = {"args": command, "env": env, "tty": tty}
    if user is not None:
        request["user"] = user
    return streams.run_process(transport, handle, request,
                               stdin_fd=0 if interactive else None)
