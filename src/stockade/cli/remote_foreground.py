"""Run or exec in the foreground through the daemon: our stdio becomes the process's.

Exit with the process's code, a terminal with -t, our stdin with -i, destroy with --rm even
on failure, the output also in the logs: the daemon runs the container and holds its
stdio; we only relay the process stream.
"""

import contextlib
import sys
import time
from urllib.parse import quote

from pydantic import ValidationError

from stockade.client import Client, streams
from stockade.client.transport import UnixTransport
from stockade.errors import InvalidSpec, StockadeError
from stockade.spec import ContainerSpec
from stockade.spec.validation import first_error
from stockade.wire.process import ProcessRequest

_STOP_GRACE_S = 2.0
_POLL_S = 0.1


def run(client: Client, spec: ContainerSpec, interactive: bool, remove: bool) -> int:
    """Create attached, start once the stream is open, relay until the init ends."""
    handle = spec.handle
    with client:
        try:
            client.create(spec, attach=True)
            return _attach_init(client, handle, spec.process.terminal, interactive)
        finally:
            if remove:
                with contextlib.suppress(StockadeError):
                    client.destroy(handle)


def _attach_init(client: Client, handle: str, tty: bool, interactive: bool) -> int:
    def start() -> None:  # only now: the daemon keeps all output for an open stream
        client.start(handle)

    try:
        code = streams.attach(client.transport, handle, "init", 0 if interactive else None, 1, 2,
                              tty, close_stdin=not interactive, on_attached=start)
    except KeyboardInterrupt:
        return _stop(client, handle)
    if client.inspect(handle).oom_killed:
        print(f"stockade: container {handle} was killed: out of memory", file=sys.stderr)
    return code


def _stop(client: Client, handle: str) -> int:
    """^C: TERM, then KILL after a grace period, as `stockade stop` does; the exit code."""
    for name in ("TERM", "KILL"):
        with contextlib.suppress(StockadeError):  # it may have ended already
            streams.request_json(client.transport, "POST",
                                 f"/v1/containers/{quote(handle)}/processes/init/signal",
                                 {"signal": name})
        deadline = time.monotonic() + _STOP_GRACE_S
        while time.monotonic() < deadline:
            info = client.inspect(handle)
            if info.exit_code is not None:
                return info.exit_code
            time.sleep(_POLL_S)
    raise StockadeError(f"container {handle} did not stop")


def exec_(transport: UnixTransport, handle: str, command: list[str], env: dict[str, str],
          user: str | None, interactive: bool, tty: bool) -> int:
    """Run a command in a running container through the daemon; its exit code."""
    try:
        request = ProcessRequest(args=command, env=env, user=user, tty=tty)
    except ValidationError as exc:
        raise InvalidSpec(first_error(exc.errors(), located="{message}")) from None
    return streams.run_process(transport, handle, request,
                               stdin_fd=0 if interactive else None)

