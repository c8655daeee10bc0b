"""`stockade server`: reconcile, then serve the API on the unix socket (and TLS, if set)."""

import asyncio
import contextlib
import faulthandler
import logging
import os
import signal
import ssl
import threading
from pathlib import Path
from typing import Any

import uvicorn

from stockade import __version__
from stockade.api import logsetup
from stockade.api.app import create_app
from stockade.api.config import ServerConfig
from stockade.api.daemon import Daemon
from stockade.api.peer import PeerHttp, PeerWebSocket
from stockade.engine import Engine
from stockade.errors import Conflict, StockadeError
from stockade.host import probe
from stockade.settings import DEFAULT_FILE, Loaded

log = logging.getLogger("stockade.daemon")


def pid_file(socket: Path) -> Path:
    return socket.with_suffix(".pid")


def _claim(socket: Path) -> None:
    """One daemon per socket: refuse if one answers, remove a dead one's socket file."""
    socket.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    previous = pid_file(socket)
    with contextlib.suppress(OSError, ValueError):
        pid = int(previous.read_text())
        if pid != os.getpid() and Path(f"/proc/{pid}").exists() and \
                b"stockade" in Path(f"/proc/{pid}/cmdline").read_bytes():
            raise Conflict(f"a stockade daemon (pid {pid}) already serves {socket}")
    socket.unlink(missing_ok=True)
    previous.write_text(str(os.getpid()))


def _uvicorn(app: Any, **kwargs: Any) -> uvicorn.Server:
    # log_config=None: uvicorn's records go through our handlers (time, level, JSON)
    config = uvicorn.Config(app, http=PeerHttp, ws=PeerWebSocket, lifespan="off",
                            log_config=None, log_level="warning", access_log=False, **kwargs)
    server = uvicorn.Server(config)
    # one set of handlers stops both listeners (see _serve), not each its own
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    return server


def _tls_kwargs(config: ServerConfig) -> dict[str, object]:
    tcp = config.tcp
    assert tcp is not None
    return {"host": tcp.host, "port": tcp.port, "ssl_certfile": str(tcp.certificate),
            "ssl_keyfile": str(tcp.key),
            "ssl_ca_certs": str(tcp.client_ca) if tcp.client_ca else None,
            # with a CA, a certificate is one way in; the token (if any) is the other
            "ssl_cert_reqs": ssl.CERT_OPTIONAL if tcp.client_ca and tcp.token_file
            else ssl.CERT_REQUIRED if tcp.client_ca else ssl.CERT_NONE}


def _stop_on_signals(servers: list[uvicorn.Server], daemon_pid: int,
                     stopping: threading.Event) -> None:
    """Plain handlers, not the event loop's: libraries fork helpers (pyroute2 for network
    namespaces) that inherit the loop's signal wakeup fd, so a SIGTERM meant for such a
    helper would otherwise stop the daemon. A forked helper gets the default action."""
    def handle(signum: int, frame: object) -> None:
        if os.getpid() != daemon_pid:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        log.info("stopping: containers keep running")
        stopping.set()  # attached streams close at once with "come back", not at the timeout
        for server in servers:
            server.should_exit = True
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handle)


async def _serve(daemon: Daemon) -> None:
    app = create_app(daemon)
    servers = [_uvicorn(app, uds=str(daemon.config.socket))]
    if daemon.config.tcp is not None:
        servers.append(_uvicorn(app, **_tls_kwargs(daemon.config)))
    _stop_on_signals(servers, os.getpid(), daemon.stopping)
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    while not servers[0].started and not any(t.done() for t in tasks):
        await asyncio.sleep(0.01)
    # root only: the socket is full control (under the default umask it was born without
    # write permission for others, and connecting needs write permission)
    os.chmod(daemon.config.socket, 0o600)
    await asyncio.gather(*tasks)


def serve(loaded: Loaded) -> None:
    """Blocks until SIGTERM/SIGINT. Containers keep running after the daemon stops."""
    # before anything is written: whatever the daemon makes is root's alone unless it
    # says otherwise (the systemd unit sets the same; --detach and a shell may not)
    os.umask(0o077)
    config = loaded.config
    logsetup.configure(config.log_level, config.log_format, config.log_file)
    faulthandler.enable()  # a crash of a native library still leaves a trace in the log
    if os.geteuid() != 0:
        raise StockadeError("stockade server must run as root")
    log.info("stockade %s starting; settings file: %s", __version__,
             loaded.file or f"none ({DEFAULT_FILE} absent)")
    host = probe()
    if not host.runc.available:
        raise StockadeError("runc is not installed: run the install command in the README")
    _claim(config.socket)
    try:
        engine = Engine(config.engine, host)
    except BaseException:
        pid_file(config.socket).unlink(missing_ok=True)
        raise
    try:
        daemon = Daemon(engine, config, loaded)
        for line in engine.reconcile():
            log.info("%s", line)
            daemon.audit.append(kind="lifecycle", action="reconcile", actor="stockade",
                                target="", result=line)
        daemon.start_background()
        try:
            asyncio.run(_serve(daemon))
        finally:
            daemon.stop_background()
    finally:
        engine.close()
        config.socket.unlink(missing_ok=True)
        pid_file(config.socket).unlink(missing_ok=True)
