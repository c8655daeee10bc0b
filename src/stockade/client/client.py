"""`Client` speaks the API and mirrors the engine's methods, so front doors that used the
engine in-process can use the daemon instead. Requests go through the stdlib transport
(client/transport.py says why) and `JsonClient` (client/base.py), which holds the calls that
need no model; process streams (client/streams.py) are imported only by the calls that use them."""

import builtins
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockade.client.base import JsonClient
from stockade.client.errors import DaemonUnavailable, from_body, from_response, unavailable
from stockade.client.netops import NetClient
from stockade.client.transport import UnixTransport
from stockade.client.vulndb import VulnDBClient
from stockade.spec import (
    Capacity,
    ContainerInfo,
    ContainerMetrics,
    ContainerSpec,
    LimitsInfo,
    LimitsPatch,
)
from stockade.wire import DEFAULT_SOCKET
from stockade.wire.images import GcReport, Image, NoProgress, Progress
from stockade.wire.logs import LogRecord
from stockade.wire.models import EventOut
from stockade.wire.system import SystemInfo
from stockade.wire.verify import Report


@dataclass(frozen=True)
class ProcessResult:
    exit_code: int
    stdout: bytes
    stderr: bytes


class Client(JsonClient):
    """The API with typed answers (the spec's and the wire's models)."""

    def __init__(self, socket: Path = DEFAULT_SOCKET, *,
                 transport: UnixTransport | None = None) -> None:
        super().__init__(socket, transport=transport)
        self.net = NetClient(self._call)
        self.vulndb = VulnDBClient(self._call)

    # -- system ---------------------------------------------------------------------------------

    def info(self) -> SystemInfo:
        """What the daemon's host offers and which mechanisms the daemon uses."""
        return SystemInfo.model_validate(self.info_json())

    def events(self, since: int = 0, handle: str | None = None,
               wait_s: float = 0) -> builtins.list[EventOut]:
        """Container events after sequence number `since` (exited, out of memory, unsafe,
        Landlock denied), oldest first; waits up to `wait_s` seconds (at most 30) for one."""
        return [EventOut.model_validate(event)
                for event in self.events_json(since, handle, wait_s)]

    def capacity(self) -> Capacity:
        return Capacity.model_validate(self._call("GET", "/v1/capacity"))

    def verify(self, handle: str | None = None, strict: bool = False) -> Report:
        return Report.model_validate(self._call("POST", "/v1/verify",
                                                {"handle": handle, "strict": strict}))

    # -- containers ---------------------------------------------------------------------------

    def create(self, spec: ContainerSpec, start: bool = True, auto_remove: bool = False,
               attach: bool = False, stdin: bool = False) -> ContainerInfo:
        return ContainerInfo.model_validate(self.create_json(
            spec.model_dump(mode="json"), start=start, auto_remove=auto_remove, attach=attach,
            stdin=stdin))

    def list(self, properties: dict[str, str] | None = None) -> builtins.list[ContainerInfo]:
        return [ContainerInfo.model_validate(item) for item in self.list_json(properties)]

    def bulk_info(self, handles: builtins.list[str]) -> dict[str, ContainerInfo | str]:
        found = self._call("POST", "/v1/containers/bulk-info", {"handles": handles})
        return {handle: ContainerInfo.model_validate(item["info"]) if item["info"]
                else str(item["error"]) for handle, item in found.items()}

    def inspect(self, handle: str) -> ContainerInfo:
        return ContainerInfo.model_validate(self.inspect_json(handle))

    def start(self, handle: str) -> ContainerInfo:
        return ContainerInfo.model_validate(self.start_json(handle))

    def stop(self, handle: str, timeout: float | None = None) -> ContainerInfo:
        return ContainerInfo.model_validate(self._call(
            "POST", f"/v1/containers/{handle}/stop", {"timeout_s": timeout}))

    def restart(self, handle: str, timeout: float | None = None) -> ContainerInfo:
        """Stop it if it runs, then run it again on the same writable layer."""
        return ContainerInfo.model_validate(self._call(
            "POST", f"/v1/containers/{handle}/restart", {"timeout_s": timeout}))

    def wait(self, handle: str, timeout_s: float = 30) -> ContainerInfo:
        return ContainerInfo.model_validate(self.wait_json(handle, timeout_s))

    def logs(self, handle: str, *, follow: bool = False, tail: int | None = None,
             since: str | None = None, until: str | None = None, stdout: bool = True,
             stderr: bool = True, after: str | None = None) -> Iterator[LogRecord]:
        """The container's log records, oldest first, as they arrive; see `log_batches`."""
        for batch in self.log_batches(handle, follow=follow, tail=tail, since=since,
                                      until=until, stdout=stdout, stderr=stderr, after=after):
            yield from batch

    def log_batches(self, handle: str, *, follow: bool = False, tail: int | None = None,
                    since: str | None = None, until: str | None = None, stdout: bool = True,
                    stderr: bool = True, after: str | None = None,
                    ) -> Iterator[builtins.list[LogRecord]]:
        """The log records as the daemon sends them, a batch at a time (what one read from
        the socket completed), so a caller can flush its output between batches. `since`
        and `until` take what `wire.logs.parse_since` reads (the daemon reads a duration on
        its own clock); `after` is a record's cursor. With `follow` this goes on until the
        container's main process has ended and its log is drained."""
        params = {"follow": follow, "tail": tail, "since": since, "until": until,
                  "stdout": stdout, "stderr": stderr, "after": after}
        path = f"/v1/containers/{handle}/logs"
        try:
            with self._http.stream("GET", path, params=params,
                                   timeout=None if follow else self._http.timeout) as response:
                if response.status >= 400:
                    raise from_response(response.read())
                pending = b""
                for chunk in response.chunks:
                    *lines, pending = (pending + chunk).split(b"\n")
                    batch = [LogRecord.model_validate_json(line) for line in lines if line]
                    if batch:
                        yield batch
                if pending.strip():
                    yield [LogRecord.model_validate_json(pending)]
        except OSError as exc:
            raise unavailable(self._http.address, exc) from exc

    def limits(self, handle: str) -> LimitsInfo:
        return LimitsInfo.model_validate(self._call("GET", f"/v1/containers/{handle}/limits"))

    def update_limits(self, handle: str, patch: LimitsPatch) -> LimitsInfo:
        return LimitsInfo.model_validate(self._call(
            "PUT", f"/v1/containers/{handle}/limits", patch.model_dump(exclude_none=True)))

    def set_properties(self, handle: str, properties: dict[str, str | None]) -> dict[str, str]:
        return dict(self._call("PATCH", f"/v1/containers/{handle}/properties",
                               {"properties": properties}))

    def net_in(self, handle: str, host_port: int, container_port: int,
               protocol: str = "tcp", host_ip: str | None = None) -> ContainerInfo:
        """Publish one more port; `host_ip` binds it to one host address (None: all)."""
        body: dict[str, object] = {"host_port": host_port, "container_port": container_port,
                                   "protocol": protocol}
        if host_ip is not None:  # a daemon from before host addresses refuses the field
            body["host_ip"] = host_ip
        return ContainerInfo.model_validate(self._call(
            "POST", f"/v1/containers/{handle}/net-in", body))

    def metrics(self, handle: str) -> ContainerMetrics:
        return ContainerMetrics.model_validate(
            self._call("GET", f"/v1/containers/{handle}/metrics"))

    # -- processes ------------------------------------------------------------------------------

    def run(self, handle: str, args: builtins.list[str], env: dict[str, str] | None = None,
            user: str | None = None, cwd: str | None = None) -> ProcessResult:
        """Run a process to its end and collect its output."""
        from stockade.client import streams

        code, out, err = streams.run_captured(self.transport, handle, args, env=env, user=user,
                                              cwd=cwd)
        return ProcessResult(code, out, err)

    # -- images ---------------------------------------------------------------------------------

    def _image_stream(self, path: str, body: dict[str, Any], progress: Progress | None) -> Image:
        report = progress or NoProgress()
        for event in self._lines(path, body):
            kind = event.get("event")
            if kind == "layer_started":
                report.layer_started(event["index"], event["total"], event["digest"],
                                     event["size"])
            elif kind == "advanced":
                report.advanced(int(event["bytes"]))
            elif kind == "layer_finished":
                report.layer_finished(event["digest"], bool(event["reused"]))
            elif kind == "message":
                report.message(str(event["text"]))
            elif kind == "done":
                return Image.model_validate(event["image"])
            elif kind == "error":
                raise from_body(int(event.get("status", 500)), event)
        raise DaemonUnavailable("the daemon closed the stream before the image was done")

    def import_image(self, path: Path, name: str | None = None, keep_setuid: bool = False,
                     progress: Progress | None = None) -> Image:
        body = {"path": str(path.absolute()), "name": name, "keep_setuid": keep_setuid}
        return self._image_stream("/v1/images/import", body, progress)

    def build_base_image(self, name: str = "base", progress: Progress | None = None) -> Image:
        return self._image_stream("/v1/images/build-base", {"name": name}, progress)

    def list_images(self) -> builtins.list[tuple[Image, builtins.list[str]]]:
        return [(Image.model_validate(item), builtins.list(item["in_use"]))
                for item in self._call("GET", "/v1/images")]

    def image(self, name: str) -> Image:
        return Image.model_validate(self._call("GET", f"/v1/images/{name}"))

    def image_users(self) -> dict[str, builtins.list[str]]:
        return {image.name: users for image, users in self.list_images()}

    def remove_image(self, name: str) -> GcReport:
        return GcReport.model_validate(self._call("DELETE", f"/v1/images/{name}"))

    def gc_images(self) -> GcReport:
        return GcReport.model_validate(self._call("POST", "/v1/images/gc"))
