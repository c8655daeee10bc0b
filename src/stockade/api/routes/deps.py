"""What a route needs from the request: the daemon, and who is asking."""

from typing import Annotated

from fastapi import Depends, Request

from stockade.api.daemon import Daemon
from stockade.api.peer import PEER_KEY, actor


def _daemon(request: Request) -> Daemon:
    daemon: Daemon = request.app.state.daemon
    return daemon


def _actor(request: Request) -> str:
    return actor(request.scope.get(PEER_KEY))


DaemonDep = Annotated[Daemon, Depends(_daemon)]
ActorDep = Annotated[str, Depends(_actor)]
