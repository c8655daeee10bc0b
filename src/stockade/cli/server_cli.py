"""`stockade server`: run the daemon in the foreground, in the background, or stop it."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from stockade.api.config import DEFAULT_SOCKET, ServerConfig
from stockade.cli.session import Options
from stockade.client import Client
from stockade.errors import StockadeError

_START_TIMEOUT_S = 60.0
DAEMON_LOG = Path("/var/log/stockade/daemon.log")


def _wait_until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def _detach(options: Options, config_file: Path | None) -> None:
    argv = [sys.executable, "-m", "stockade.cli.main", "--socket", str(options.socket)]
    if options.root:
        argv += ["--root", str(options.root)]
    argv += ["server"] + (["--config", str(config_file)] if config_file else [])
    DAEMON_LOG.parent.mkdir(parents=True, exist_ok=True)
    with DAEMON_LOG.open("ab") as log:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 start_new_session=True)
    client = Client(options.socket)
    if not _wait_until(lambda: child.poll() is not None or client.available(),
                       _START_TIMEOUT_S) or child.poll() is not None:
        raise StockadeError(f"the daemon did not start; see {DAEMON_LOG}")
    print(f"stockade daemon running (pid {child.pid}) on {options.socket}; log: {DAEMON_LOG}")


def _stop(options: Options) -> None:
    pid_path = options.socket.with_suffix(".pid")  # where the daemon wrote it
    try:
        pid = int(pid_path.read_text())
    except (OSError, ValueError):
        raise StockadeError(f"no daemon pid file at {pid_path}") from None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_path.unlink(missing_ok=True)
        print(f"daemon {pid} was not running")
        return
    if not _wait_until(lambda: not Path(f"/proc/{pid}").exists(), 30):
        raise StockadeError(f"daemon {pid} did not stop within 30 s")
    print(f"daemon {pid} stopped (containers keep running)")


def serve(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option("--config", help="TOML settings file.")] = None,
    detach: Annotated[bool, typer.Option("--detach", "-d",
                                         help="Run in the background.")] = False,
    stop: Annotated[bool, typer.Option("--stop", help="Stop the running daemon.")] = False,
) -> None:
    """Run the API daemon on the unix socket (containers outlive it)."""
    from stockade.api import server  # uvicorn and FastAPI: only the daemon pays for them

    options: Options = ctx.obj
    if stop:
        _stop(options)
        return
    if detach:
        _detach(options, config)
        return
    socket = options.socket if options.socket != DEFAULT_SOCKET or config is None \
        else None
    server.serve(ServerConfig.load(config, root=options.root, socket=socket))
