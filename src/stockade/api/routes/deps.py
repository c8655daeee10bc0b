"""What a route needs from the request: the daemon, who is asking, and which containers
that caller may see."""

from typing import Annotated

from fastapi import Depends, Path, Request

from stockade.api import access
from stockade.api.access import IDENTITY_KEY, Identity
from stockade.api.daemon import Daemon
from stockade.api.peer import PEER_KEY, actor
from stockade.spec import HANDLE_PATTERN


def _daemon(request: Request) -> Daemon:
    daemon: Daemon = request.app.state.daemon
    return daemon


def _identity(request: Request) -> Identity:
    # the gate sets it on every request; a test app without the gate is root's
    found: Identity = request.scope.get(IDENTITY_KEY) or access.ROOT
    return found


def _actor(request: Request) -> str:
    return actor(request.scope.get(PEER_KEY), request.scope.get(IDENTITY_KEY))


DaemonDep = Annotated[Daemon, Depends(_daemon)]
IdentityDep = Annotated[Identity, Depends(_identity)]
ActorDep = Annotated[str, Depends(_actor)]


def _visible_handle(handle: Annotated[str, Path(pattern=HANDLE_PATTERN, max_length=63)],
                    request: Request, identity: IdentityDep) -> str:
    """A handle the caller may act on; another identity's container is a 404. Needs only
    the engine, so the process routes stand without the whole daemon."""
    access.check_visible(request.app.state.engine, identity, handle)
    return handle


def _admin(identity: IdentityDep, request: Request) -> None:
    access.require_admin(identity, f"{request.method} {request.url.path}")


OwnedHandle = Annotated[str, Depends(_visible_handle)]
AdminOnly = Depends(_admin)
