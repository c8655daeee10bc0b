"""`stockade server`: run the daemon in the foreground, in the background, or stop it.

The settings (file, environment, flags) are read here with the daemon's own loader, so a
bad setting is reported on the terminal before anything is started."""

import os
import signal
import subprocess
import sys
import time
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stockade.cli.session import Options
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


def _detach(options: Options, flags: list[str], socket: Path, log_file: Path) -> None:
    """Start `python -m stockade ... server` in its own session; its log (and anything it
    prints) goes to `log_file`, which the daemon rotates."""
    argv = [sys.executable, "-m", "stockade"]
    if options.socket_flag:
        argv += ["--socket", str(options.socket_flag)]
    if options.root:
        argv += ["--root", str(options.root)]
    argv += ["server", *flags, "--log-file", str(log_file)]
    log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    offset = log_file.stat().st_size if log_file.exists() else 0
    with log_file.open("ab") as log:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 start_new_session=True)
    from stockade.client import Client

    client = Client(socket)
    if not _wait_until(lambda: child.poll() is not None or client.available(),
                       _START_TIMEOUT_S) or child.poll() is not None:
        with log_file.open("rb") as log:  # only what this start wrote
            log.seek(offset)
            said = log.read().decode(errors="replace").strip().splitlines()
        why = said[-1].removeprefix("stockade: error: ") if said else "it wrote nothing"
        raise StockadeError(f"the daemon did not start: {why} (log: {log_file})")
    print(f"stockade daemon running (pid {child.pid}) on {socket}; log: {log_file}")


def _stop(socket: Path) -> None:
    pid_path = socket.with_suffix(".pid")  # where the daemon wrote it
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


def serve(args: Namespace) -> None:
    """Run the API daemon on the unix socket (containers outlive it)."""
    options: Options = args.options
    config: Path | None = args.server_config or options.config
    log_level, log_format, log_file = args.log_level, args.log_format, args.log_file
    from stockade import settings  # pydantic models of the server: only `server` pays

    flags: dict[str, Any] = {"socket": options.socket_flag, "engine.root": options.root,
                             "log_level": log_level, "log_format": log_format,
                             "log_file": log_file}
    loaded = settings.load(config, flags=flags)
    if args.stop:
        _stop(loaded.config.socket)
        return
    if args.detach:
        passed = [("--config", config), ("--log-level", log_level), ("--log-format", log_format)]
        _detach(options, [arg for flag, value in passed if value is not None
                          for arg in (flag, str(value))],
                loaded.config.socket, loaded.config.log_file or DAEMON_LOG)
        return
    from stockade.api import server  # uvicorn and FastAPI: only the daemon pays for them

    server.serve(loaded)
