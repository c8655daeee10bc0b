"""Run or exec in the foreground through the daemon: our stdio becomes the process's.

The same behaviour as `foreground` (exit with the process's code, a terminal with -t,
our stdin with -i, destroy with --rm even on failure, the output also in the logs), but
the daemon runs the container and holds its stdio; we only relay the process stream.
"""

import contextlib
import sys
import time
from pathlib import Path
from urllib.parse import quote

from pydantic import ValidationError

from stockade.api.procmodels import ProcessRequest
from stockade.client import streams
from stockade.errors import InvalidSpec, StockadeError
from stockade.spec import ContainerInfo, ContainerSpec

_STOP_GRACE_S = 2.0
_POLL_S = 0.1


def run(client_socket: Path, spec: ContainerSpec, interactive: bool, remove: bool) -> int:
    """Create attached, start once the stream is open, relay until the init ends."""
    handle = spec.handle
    try:
        streams.request_json(client_socket, "POST", "/v1/containers",
                             {"spec": spec.model_dump(mode="json"), "attach": True})
        return _attach_init(client_socket, handle, spec.process.terminal, interactive)
    finally:
        if remove:
            with contextlib.suppress(StockadeError):
                streams.request_json(client_socket, "DELETE", _container(handle))


def _attach_init(socket: Path, handle: str, tty: bool, interactive: bool) -> int:
    def start() -> None:  # only now: the daemon keeps all output for an open stream
        streams.request_json(socket, "POST", _container(handle) + "/start")

    try:
        code = streams.attach(socket, handle, "init", 0 if interactive else None, 1, 2, tty,
                              close_stdin=not interactive, on_attached=start)
    except KeyboardInterrupt:
        return _stop(socket, handle)
    if _inspect(socket, handle).oom_killed:
        print(f"stockade: container {handle} was killed: out of memory", file=sys.stderr)
    return code


def _stop(socket: Path, handle: str) -> int:
    """^C: TERM, then KILL after a grace period, as `stockade stop` does; the exit code."""
    for name in ("TERM", "KILL"):
        with contextlib.suppress(StockadeError):  # it may have ended already
            streams.request_json(socket, "POST", _container(handle) + "/processes/init/signal",
                                 {"signal": name})
        deadline = time.monotonic() + _STOP_GRACE_S
        while time.monotonic() < deadline:
            info = _inspect(socket, handle)
            if info.exit_code is not None:
                return info.exit_code
            time.sleep(_POLL_S)
    raise StockadeError(f"container {handle} did not stop")


def exec_(client_socket: Path, handle: str, command: list[str], env: dict[str, str],
          user: str | None, interactive: bool, tty: bool) -> int:
    """Run a command in a running container through the daemon; its exit code."""
    try:
        request = ProcessRequest(args=command, env=env, user=user, tty=tty)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise InvalidSpec(str(error["msg"]).removeprefix("Value error, ")) from None
    return streams.run_process(client_socket, handle, request,
                               stdin_fd=0 if interactive else None)


def _inspect(socket: Path, handle: str) -> ContainerInfo:
    return ContainerInfo.model_validate(streams.request_json(socket, "GET", _container(handle)))


def _container(handle: str) -> str:
    return f"/v1/containers/{quote(handle)}"
