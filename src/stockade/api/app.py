"""The FastAPI application: routes, error bodies and the gate around every request."""

from pathlib import Path

from fastapi import FastAPI

from stockade import __version__
from stockade.api import errors, processes
from stockade.api.daemon import Daemon
from stockade.api.gate import Gate
from stockade.api.routes import containers, images, network, system


def create_app(daemon: Daemon) -> FastAPI:
    app = FastAPI(title="Stockade", version=__version__,
                  description="Hardened containers: every operation of the stockade daemon.")
    app.state.daemon = daemon
    app.state.engine = daemon.engine
    app.state.processes = daemon.processes
    errors.install(app)
    for module in (system, containers, network, images):
        app.include_router(module.router)
    app.include_router(processes.router)
    tcp = daemon.config.tcp
    token = _token(tcp.token_file) if tcp and tcp.token_file else None
    app.add_middleware(Gate, recorder=daemon, max_body=daemon.config.max_body_bytes,
                       token=token, client_ca=bool(tcp and tcp.client_ca))
    return app


def _token(path: Path) -> str:
    token = path.read_text().strip()
    if len(token) < 16:
        raise ValueError(f"the token in {path} is too short (16 characters at least)")
    return token
