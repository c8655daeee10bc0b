"""The host baseline: check this node and harden its sysctls (admin only: it is the host's,
not a container's)."""

from typing import Any

from fastapi import APIRouter

from stockade.api.routes.deps import ActorDep, AdminOnly, DaemonDep
from stockade.wire.host import HardenRequest

router = APIRouter(tags=["host"], dependencies=[AdminOnly])


@router.get("/v1/host/check")
def check(daemon: DaemonDep) -> dict[str, Any]:
    """Every baseline item, read now: pass, fail or n/a, the evidence and the reason."""
    return daemon.host.check().as_dict()


@router.post("/v1/host/harden")
def harden(request: HardenRequest, daemon: DaemonDep, actor: ActorDep) -> dict[str, Any]:
    """Apply the safe sysctls (or revert them); each change goes to the audit log."""
    return daemon.host.harden(request.action, request.dry_run, actor)
