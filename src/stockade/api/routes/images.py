"""Images: list, inspect, import and build (progress streamed as JSON lines), remove, gc."""

import json
import queue
import threading
from collections.abc import Iterator
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import StreamingResponse

from stockade.api import access, errors
from stockade.api.peer import PEER_KEY
from stockade.api.routes.deps import AdminOnly, DaemonDep, IdentityDep
from stockade.errors import InvalidSpec, StockadeError
from stockade.images import Image
from stockade.wire.images import GcReport
from stockade.wire.models import BuildBaseRequest, ImportRequest

router = APIRouter(prefix="/v1/images", tags=["images"])
Name = Annotated[str, Path(min_length=1, max_length=255)]
_DONE = object()


class _QueuedProgress:
    """stockade.images.Progress that hands each report to the streaming response."""

    def __init__(self, out: "queue.Queue[object]") -> None:
        self.out = out

    def layer_started(self, index: int, total: int, digest: str, size: int | None) -> None:
        self.out.put({"event": "layer_started", "index": index, "total": total,
                      "digest": digest, "size": size})

    def advanced(self, nbytes: int) -> None:
        self.out.put({"event": "advanced", "bytes": nbytes})

    def layer_finished(self, digest: str, reused: bool) -> None:
        self.out.put({"event": "layer_finished", "digest": digest, "reused": reused})

    def message(self, text: str) -> None:
        self.out.put({"event": "message", "text": text})


def _streamed(work: Any) -> StreamingResponse:
    """Run `work(progress)` in a thread; JSON lines of progress, then the image or the error."""
    out: queue.Queue[object] = queue.Queue(maxsize=1024)

    def run() -> None:
        try:
            image: Image = work(_QueuedProgress(out))
            out.put({"event": "done", "image": image.model_dump(mode="json")})
        except StockadeError as exc:
            kind, code = errors.classify(exc)
            out.put({"event": "error", "status": code, **errors.body(kind, str(exc))})
        except Exception as exc:  # the stream has begun: report in-band, never hang
            out.put({"event": "error", "status": 500, **errors.body("platform", str(exc))})
        out.put(_DONE)

    threading.Thread(target=run, daemon=True).start()

    def lines() -> Iterator[bytes]:
        while (item := out.get()) is not _DONE:
            yield (json.dumps(item) + "\n").encode()
    return StreamingResponse(lines(), media_type="application/x-ndjson")


@router.get("")
def list_images(daemon: DaemonDep) -> list[dict[str, Any]]:
    return [image.model_dump(mode="json") | {"in_use": users}
            for image, users in daemon.engine.list_images()]


def readable_bases(peer: dict[str, Any] | None, path: FsPath,
                   allowed: tuple[FsPath, ...]) -> tuple[FsPath, ...]:
    """Where an import may read from. Root on the unix socket could read the file anyway;
    a TLS client must not use the daemon to read host files, so its imports come only from
    the allowlisted directories. The engine resolves the path below these, once."""
    if not path.is_absolute():
        raise InvalidSpec(f"image path {path} must be absolute")
    if peer and peer.get("transport") == "unix":
        return (FsPath("/"),)
    return allowed


@router.post("/import")
def import_image(request: ImportRequest, daemon: DaemonDep, http: Request,
                 identity: IdentityDep) -> StreamingResponse:
    """Progress as JSON lines; the last line is `done` with the image, or `error`."""
    access.require_admin(identity, "importing an image from a host path")
    path = FsPath(request.path)
    within = readable_bases(http.scope.get(PEER_KEY), path, daemon.engine.config.bind_allowlist)
    return _streamed(lambda progress: daemon.engine.import_image(
        path, request.name, request.keep_setuid, progress, within))


@router.post("/build-base", dependencies=[AdminOnly])
def build_base(request: BuildBaseRequest, daemon: DaemonDep) -> StreamingResponse:
    return _streamed(lambda progress: daemon.engine.build_base_image(request.name, progress))


@router.post("/gc", dependencies=[AdminOnly])
def gc(daemon: DaemonDep) -> GcReport:
    return daemon.engine.gc_images()


@router.get("/{name:path}")
def inspect(name: Name, daemon: DaemonDep) -> dict[str, Any]:
    image = daemon.engine.image(name)
    users = daemon.engine.image_users().get(name, [])
    return image.model_dump(mode="json") | {"in_use": users}


@router.delete("/{name:path}", dependencies=[AdminOnly])
def remove(name: Name, daemon: DaemonDep) -> GcReport:
    return daemon.engine.remove_image(name)
