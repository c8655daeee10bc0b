"""The daemon itself: ping, capacity, host info, events, cleanup, verify, Prometheus."""

import itertools
import json
import platform
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from stockade import __version__
from stockade import verify as verifier
from stockade.api.routes.deps import AdminOnly, DaemonDep, IdentityDep
from stockade.spec import Capacity
from stockade.wire.models import EventOut, Ping, VerifyRequest
from stockade.wire.system import SystemInfo
from stockade.wire.verify import Report

router = APIRouter(tags=["system"])
_POLL_S = 0.2


@router.get("/v1/ping")
def ping() -> Ping:
    return Ping(version=__version__)


@router.get("/v1/version")
def version(daemon: DaemonDep) -> dict[str, Any]:
    """The daemon's version and what it runs on (`stockade version`)."""
    host = daemon.engine.host
    return {"version": __version__, "api": "v1", "python": platform.python_version(),
            "kernel": host.kernel, "arch": host.arch, "runc": host.runc_version,
            "runc_binary": daemon.engine.config.runc_binary}


@router.get("/v1/config", dependencies=[AdminOnly])
def config(daemon: DaemonDep) -> dict[str, Any]:
    """The effective settings and where each came from (`stockade config show`)."""
    return daemon.settings.shown()


@router.get("/v1/capacity")
def capacity(daemon: DaemonDep) -> Capacity:
    return daemon.engine.capacity()


@router.get("/v1/info")
def info(daemon: DaemonDep) -> SystemInfo:
    """The host's features and what the daemon uses (`Client.info()` reads this model)."""
    return SystemInfo.model_validate(daemon.engine.info() | {
        "network_log": daemon.netlog_status, "audit_log": str(daemon.audit.path),
        "landlock_events": daemon.landlock.status.model_dump(),
        "host_baseline": daemon.host.summary()})


@router.get("/v1/events")
def events(daemon: DaemonDep, identity: IdentityDep, since: Annotated[int, Query(ge=0)] = 0,
           handle: Annotated[str | None, Query(max_length=63)] = None,
           wait_s: Annotated[float, Query(ge=0, le=30)] = 0) -> list[EventOut]:
    """Events after `since` (exited, out of memory, unsafe, landlock denied); waits up to
    `wait_s` for one."""
    deadline = time.monotonic() + wait_s
    owner = None if identity.is_admin else identity.name  # a developer's own, even once gone
    while True:
        found = daemon.engine.state.events(since, handle, owner=owner)
        if found or time.monotonic() >= deadline:
            return [EventOut(**vars(e)) for e in found]
        time.sleep(_POLL_S)


@router.get("/v1/network-log")
def network_log(daemon: DaemonDep, identity: IdentityDep, since: Annotated[int, Query(ge=0)] = 0,
                limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> list[dict[str, Any]]:
    """Logged and denied packets of this daemon's containers, oldest first, after `since`;
    a developer gets those of the containers it holds now."""
    path = daemon.engine.layout.network_log
    if not path.exists():
        return []
    with path.open() as records:
        lines = itertools.islice(records, since, since + limit)
        entries = [json.loads(line) for line in lines if line.strip()]
    if identity.is_admin:
        return entries
    mine = {info.handle for info in daemon.visible(identity, daemon.engine.list())}
    return [entry for entry in entries if entry.get("handle") in mine]


@router.post("/v1/cleanup", dependencies=[AdminOnly])
def cleanup(daemon: DaemonDep) -> list[str]:
    return daemon.engine.cleanup()


@router.post("/v1/verify")
def verify(request: VerifyRequest, daemon: DaemonDep, identity: IdentityDep) -> Report:
    """Prove every layer from inside `handle`, or inside a fresh default container."""
    sockets = tuple(str(s) for s in daemon.sockets())
    if request.handle is not None:
        daemon.check_visible(identity, request.handle)
    if request.handle is None:
        report = verifier.verify_new(daemon.engine, request.strict, sockets)
    else:
        report = verifier.verify_container(daemon.engine, request.handle, request.strict,
                                           sockets)
    return report.model_copy(update={"host": daemon.host.summary()})


@router.get("/metrics", include_in_schema=False, dependencies=[AdminOnly])
def metrics(daemon: DaemonDep) -> Response:
    return Response(daemon.metrics.render(), media_type="text/plain; version=0.0.4")
