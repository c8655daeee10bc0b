"""The FastAPI application: routes, error bodies and the gate around every request."""

from fastapi import FastAPI

from stockade import __version__
from stockade.api import errors
from stockade.api.access import Identities
from stockade.api.daemon import Daemon
from stockade.api.gate import Gate
from stockade.api.routes import containers, host, images, network, processes, system, vulndb


def create_app(daemon: Daemon) -> FastAPI:
    app = FastAPI(title="Stockade", version=__version__,
                  description="Hardened containers: every operation of the stockade daemon.")
    app.state.daemon = daemon
    app.state.engine = daemon.engine
    app.state.processes = daemon.processes
    errors.install(app)
    for module in (system, containers, network, images, vulndb, host):
        app.include_router(module.router)
    app.include_router(processes.router)
    app.add_middleware(Gate, recorder=daemon, max_body=daemon.config.max_body_bytes,
                       max_archive=daemon.config.max_archive_bytes,
                       identities=Identities(daemon.config))
    return app
