"""Containers: create, list, inspect, lifecycle, limits, properties, ports, metrics, logs."""

import asyncio
import tempfile
import time
from typing import Annotated, BinaryIO, cast

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from stockade.api import logstream
from stockade.api.routes.deps import ActorDep, DaemonDep, IdentityDep, OwnedHandle
from stockade.errors import InvalidSpec, StockadeError
from stockade.runtime.logfile import MAX_CURSOR_CHARS, Cursor
from stockade.spec import ContainerInfo, ContainerMetrics, LimitsInfo, LimitsPatch
from stockade.wire.logs import MAX_TIME_CHARS, LogRecord, parse_since
from stockade.wire.models import (
    BulkInfoItem,
    BulkInfoRequest,
    CreateRequest,
    NetInRequest,
    PropertiesPatch,
    StopRequest,
    TopRow,
)
from stockade.wire.process import SignalRequest
from stockade.wire.stream import Stream

router = APIRouter(prefix="/v1/containers", tags=["containers"])
_WAIT_LIMIT_S = 60.0


def _properties_filter(items: list[str]) -> dict[str, str]:
    wanted = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidSpec(f"invalid property filter {item!r}: use KEY=VALUE")
        wanted[key] = value
    return wanted


@router.post("", status_code=status.HTTP_201_CREATED)
def create(request: CreateRequest, daemon: DaemonDep, who: ActorDep,
           identity: IdentityDep) -> ContainerInfo:
    """Create a hardened container (and start it unless `start` is false or `attach`)."""
    return daemon.create(request, who, identity)


@router.get("")
def list_containers(daemon: DaemonDep, identity: IdentityDep, properties: Annotated[
        list[str], Query(alias="property", max_length=32)] = []) -> list[ContainerInfo]:  # noqa: B006
    """Every container the caller may see, or those whose properties match every
    `property=KEY=VALUE`."""
    wanted = _properties_filter(properties)
    return [info for info in daemon.visible(identity, daemon.engine.list())
            if all(info.properties.get(k) == v for k, v in wanted.items())]


@router.post("/bulk-info")
def bulk_info(request: BulkInfoRequest, daemon: DaemonDep,
              identity: IdentityDep) -> dict[str, BulkInfoItem]:
    result = {}
    for handle in request.handles:
        try:
            daemon.check_visible(identity, handle)
            result[handle] = BulkInfoItem(info=daemon.engine.inspect(handle))
        except StockadeError as exc:
            result[handle] = BulkInfoItem(error=str(exc))
    return result


@router.get("/{handle}")
def inspect(handle: OwnedHandle, daemon: DaemonDep) -> ContainerInfo:
    return daemon.engine.inspect(handle)


@router.delete("/{handle}", status_code=status.HTTP_204_NO_CONTENT)
def destroy(handle: OwnedHandle, daemon: DaemonDep) -> Response:
    daemon.destroy(handle)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{handle}/start")
def start(handle: OwnedHandle, daemon: DaemonDep) -> ContainerInfo:
    return daemon.start(handle)


@router.post("/{handle}/stop")
def stop(handle: OwnedHandle, request: StopRequest, daemon: DaemonDep) -> ContainerInfo:
    """TERM to every process, KILL after `timeout_s`."""
    return daemon.stop(handle, request.timeout_s)


@router.post("/{handle}/restart")
def restart(handle: OwnedHandle, request: StopRequest, daemon: DaemonDep) -> ContainerInfo:
    """Stop it if it runs (TERM, KILL after `timeout_s`), then run it again on the same
    writable layer."""
    return daemon.restart(handle, request.timeout_s)


@router.post("/{handle}/signal", status_code=status.HTTP_204_NO_CONTENT)
def signal(handle: OwnedHandle, request: SignalRequest, daemon: DaemonDep) -> Response:
    daemon.engine.signal(handle, request.signal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{handle}/wait")
def wait(handle: OwnedHandle, daemon: DaemonDep,
         timeout_s: Annotated[float, Query(gt=0, le=_WAIT_LIMIT_S)] = 30) -> ContainerInfo:
    """The container once its main process has ended, or as it is at the timeout."""
    daemon.engine.wait(handle, timeout_s)
    return daemon.engine.inspect(handle)


TimeText = Annotated[str | None, Query(max_length=MAX_TIME_CHARS, description=(
    "RFC 3339 time, unix time or a duration ago (10m, 1h30m)"))]


@router.get("/{handle}/logs", response_class=StreamingResponse, responses={200: {
    "description": "One LogRecord a line (NDJSON), oldest first",
    "content": {"application/x-ndjson": {"schema": LogRecord.model_json_schema()}}}})
def logs(handle: OwnedHandle, daemon: DaemonDep,
         follow: Annotated[bool, Query(description="Keep streaming until the container's "
                                       "main process has ended")] = False,
         tail: Annotated[int | None, Query(ge=0, description="Only the last N records")] = None,
         since: TimeText = None, until: TimeText = None,
         stdout: bool = True, stderr: bool = True,
         after: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS, description=(
             "Resume after the record with this cursor"))] = None) -> StreamingResponse:
    """The container's stdout and stderr records in the order written, as NDJSON."""
    now = time.time()
    streams = frozenset(stream for stream, wanted in ((Stream.STDOUT, stdout),
                                                      (Stream.STDERR, stderr)) if wanted)
    if not streams:
        raise InvalidSpec("no stream chosen: stdout, stderr or both")
    query = logstream.LogQuery(
        follow=follow, tail=tail, streams=streams,
        since_ns=parse_since(since, now) if since is not None else None,
        until_ns=parse_since(until, now) if until is not None else None,
        after=Cursor.decode(after) if after is not None else None)
    files = daemon.engine.log_files(handle)
    engine = daemon.engine
    return StreamingResponse(logstream.body(files, query, lambda: engine.has_ended(handle)),
                             media_type="application/x-ndjson")


@router.get("/{handle}/top")
def top(handle: OwnedHandle, daemon: DaemonDep) -> list[TopRow]:
    """The container's processes, read from its cgroup and /proc on the host."""
    return [TopRow(**vars(row)) for row in daemon.engine.top(handle)]


@router.get("/{handle}/archive")
def get_archive(handle: OwnedHandle, daemon: DaemonDep,
                path: Annotated[str, Query(min_length=1, max_length=4096)]) -> Response:
    """`path` of the container's tree as a tar stream (symlinks on the way are refused)."""
    return StreamingResponse(daemon.engine.archive_out(handle, path),
                             media_type="application/x-tar")


@router.put("/{handle}/archive")
async def put_archive(handle: OwnedHandle, daemon: DaemonDep, request: Request, who: ActorDep,
                      path: Annotated[str, Query(min_length=1, max_length=4096)],
                      ) -> dict[str, object]:
    """Unpack the tar body into the existing directory `path`: the image unpacker's rules,
    ids shifted into the container's range, setuid bits stripped, no devices."""
    # beyond 1 MiB it goes to a file under the state root (root's alone), not to /tmp
    with tempfile.SpooledTemporaryFile(max_size=1 << 20,
                                       dir=str(daemon.engine.config.root)) as body:
        async for chunk in request.stream():
            body.write(chunk)
        body.seek(0)
        report = await asyncio.to_thread(daemon.engine.archive_in, handle, path,
                                         cast(BinaryIO, body))
    daemon.security("files copied in", handle, {"path": path, "entries": report.entries,
                                                "stripped_setuid": report.stripped_setuid}, who)
    return {"entries": report.entries, "bytes": report.bytes_written,
            "skipped": report.skipped, "stripped_setuid": report.stripped_setuid}


@router.get("/{handle}/limits")
def get_limits(handle: OwnedHandle, daemon: DaemonDep) -> LimitsInfo:
    return daemon.engine.inspect(handle).limits


@router.put("/{handle}/limits")
def set_limits(handle: OwnedHandle, patch: LimitsPatch, daemon: DaemonDep,
               who: ActorDep) -> LimitsInfo:
    """Memory, CPU shares and pids through the cgroup; disk through the quota backend."""
    with daemon.locks.held(handle):
        info = daemon.engine.update_limits(handle, patch)
    daemon.security("limits changed", handle, patch.model_dump(exclude_none=True), who)
    return info.limits


@router.get("/{handle}/properties")
def get_properties(handle: OwnedHandle, daemon: DaemonDep) -> dict[str, str]:
    return daemon.engine.inspect(handle).properties


@router.patch("/{handle}/properties")
def set_properties(handle: OwnedHandle, patch: PropertiesPatch,
                   daemon: DaemonDep) -> dict[str, str]:
    with daemon.locks.held(handle):
        return daemon.engine.set_properties(handle, patch.properties).properties


@router.post("/{handle}/net-in")
def net_in(handle: OwnedHandle, request: NetInRequest, daemon: DaemonDep,
           who: ActorDep) -> ContainerInfo:
    """Publish one more port (host port 0 picks a free one), on every host address or
    on `host_ip` alone."""
    info = daemon.engine.net_in(handle, request.host_port, request.container_port,
                                request.protocol, request.host_ip)
    daemon.security("port published", handle, request.model_dump(), who)
    return info


@router.get("/{handle}/metrics")
def metrics(handle: OwnedHandle, daemon: DaemonDep) -> ContainerMetrics:
    return daemon.engine.metrics(handle)
