"""The offline vulnerability database: load a feed (admin only, audited) and show what is
loaded."""

import dataclasses
import os
from pathlib import Path

from fastapi import APIRouter, Request

from stockade.api.peer import PEER_KEY
from stockade.api.routes.deps import ActorDep, AdminOnly, DaemonDep
from stockade.errors import Forbidden
from stockade.images.vulndb import FeedStatus
from stockade.wire.vulndb import VulnDBStatus, VulnDBUpdate

router = APIRouter(prefix="/v1/vulndb", tags=["vulndb"])


def _out(status: FeedStatus | None) -> VulnDBStatus:
    if status is None:
        return VulnDBStatus(loaded=False)
    return VulnDBStatus(loaded=True, **dataclasses.asdict(status))


@router.get("")
def status(daemon: DaemonDep) -> VulnDBStatus:
    return _out(daemon.engine.vulndb.status())


@router.post("/update", dependencies=[AdminOnly])
def update(request: VulnDBUpdate, daemon: DaemonDep, http: Request,
           who: ActorDep) -> VulnDBStatus:
    """Replace the database with the feed at `source`; a bad feed keeps the loaded one."""
    peer = http.scope.get(PEER_KEY)
    if "://" not in request.source and not (peer and peer.get("transport") == "unix"):
        # as with image imports: a TLS client must not use the daemon to read host files
        real = Path(os.path.realpath(request.source))
        if not any(real.is_relative_to(base) for base in daemon.engine.config.bind_allowlist):
            raise Forbidden(f"{request.source}: a remote client may load a feed only from "
                            "a URL or the allowlisted directories")
    loaded = daemon.engine.vulndb.update(request.source)
    daemon.security("vulnerability feed loaded", request.source,
                    {"records": loaded.records, "feed_date": loaded.feed_date}, who)
    return _out(loaded)
