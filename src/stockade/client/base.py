"""`JsonClient`: the API with the daemon's answers as JSON, without models.

A one-shot command such as `stockade ps` or `stockade version` pays for what it imports:
pydantic and the spec cost more to import than the whole request takes (docs/performance.md,
section 7). This class holds the transport and the calls whose answers need no model, and
the JSON of those that `Client` (client/client.py) turns into models; `Client` is a
`JsonClient` too, so library users keep one typed API."""

import builtins
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Self

from stockade.client.errors import DaemonUnavailable, from_response, unavailable
from stockade.client.host import HostClient
from stockade.client.remote import resolve
from stockade.client.transport import FileBody, UnixTransport
from stockade.wire import DEFAULT_SOCKET


class JsonClient:
    """`socket` is the daemon's unix socket; `transport` another way to reach it (a TCP
    one with TLS and a token): see client/transport.py for what a transport offers."""

    def __init__(self, socket: Path = DEFAULT_SOCKET, *,
                 transport: UnixTransport | None = None) -> None:
        self.socket = socket
        self._http = transport or UnixTransport(socket)
        self.host = HostClient(self._call)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        """The client of the daemon the environment names (`env`, default os.environ), by
        the command line's rules (client/remote.py): STOCKADE_HOST (`unix:///PATH` or
        `tcp://HOST:PORT`, TLS always, with STOCKADE_TLSCACERT, STOCKADE_TLSCERT,
        STOCKADE_TLSKEY and STOCKADE_TOKEN_FILE), or STOCKADE_SOCKET, or the settings
        file's socket, or the default one. A bad or unreadable setting raises InvalidSpec."""
        endpoint = resolve(env=env)
        return cls(endpoint.socket, transport=endpoint.transport())

    @property
    def transport(self) -> UnixTransport:
        """How requests and process streams reach the daemon."""
        return self._http

    def close(self) -> None:
        """Nothing stays open between calls (one connection per request); kept so a client
        is used as a context manager like any other."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ----------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any = None,
              params: dict[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, path, body, params)
        except OSError as exc:
            raise unavailable(self._http.address, exc) from exc
        if response.status >= 400:
            raise from_response(response)
        if response.status == 204 or not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.content

    def _lines(self, path: str, body: Any) -> Iterator[dict[str, Any]]:
        try:
            with self._http.stream("POST", path, body) as response:
                if response.status >= 400:
                    raise from_response(response.read())
                for line in response.iter_lines():
                    if line.strip():
                        yield json.loads(line)
        except OSError as exc:
            raise unavailable(self._http.address, exc) from exc

    # -- system ---------------------------------------------------------------------------------

    def ping(self) -> bool:
        return bool(self._call("GET", "/v1/ping")["ok"])

    def available(self) -> bool:
        try:
            return self.ping()
        except DaemonUnavailable:
            return False

    def info_json(self) -> dict[str, Any]:
        """What the host offers and what the daemon uses (`Client.info()` types it)."""
        result: dict[str, Any] = self._call("GET", "/v1/info")
        return result

    def version(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/v1/version")
        return result

    def settings(self) -> dict[str, Any]:
        """The daemon's effective settings: {"file", "settings": [{key, value, source}]}."""
        result: dict[str, Any] = self._call("GET", "/v1/config")
        return result

    def cleanup(self) -> builtins.list[str]:
        return list(self._call("POST", "/v1/cleanup"))

    def events_json(self, since: int = 0, handle: str | None = None,
                    wait_s: float = 0) -> builtins.list[dict[str, Any]]:
        """Events after sequence number `since`, waiting up to `wait_s` for one (`Client.
        events()` types them)."""
        params: dict[str, Any] = {"since": since, "wait_s": wait_s}
        if handle:
            params["handle"] = handle
        return list(self._call("GET", "/v1/events", params=params))

    def network_log(self, since: int = 0) -> builtins.list[dict[str, Any]]:
        return list(self._call("GET", "/v1/network-log", params={"since": since}))

    def prometheus(self) -> str:
        return bytes(self._call("GET", "/metrics")).decode()

    # -- containers, as JSON ----------------------------------------------------------------------

    def list_json(self, properties: dict[str, str] | None = None,
                  ) -> builtins.list[dict[str, Any]]:
        """Every container as the daemon describes it (ContainerInfo's JSON)."""
        params = {"property": [f"{k}={v}" for k, v in (properties or {}).items()]}
        return list(self._call("GET", "/v1/containers", params=params))

    def create_json(self, spec: dict[str, Any], start: bool = True, auto_remove: bool = False,
                    attach: bool = False, stdin: bool = False) -> dict[str, Any]:
        """Create a container from the JSON of a ContainerSpec (the daemon checks it); its
        ContainerInfo's JSON. With `attach` it is started by `start` once the caller has
        attached to its init, so no output is missed."""
        body = {"spec": spec, "start": start, "auto_remove": auto_remove, "attach": attach,
                "stdin": stdin}
        result: dict[str, Any] = self._call("POST", "/v1/containers", body)
        return result

    def start_json(self, handle: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/v1/containers/{handle}/start")
        return result

    def inspect_json(self, handle: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v1/containers/{handle}")
        return result

    def wait_json(self, handle: str, timeout_s: float = 30) -> dict[str, Any]:
        """The container once its process has ended, or after `timeout_s` seconds."""
        result: dict[str, Any] = self._call("GET", f"/v1/containers/{handle}/wait",
                                            params={"timeout_s": timeout_s})
        return result

    def signal(self, handle: str, signal: str = "TERM") -> None:
        self._call("POST", f"/v1/containers/{handle}/signal", {"signal": signal})

    def destroy(self, handle: str) -> None:
        self._call("DELETE", f"/v1/containers/{handle}")

    def restart_json(self, handle: str, timeout: float | None = None) -> dict[str, Any]:
        """Stop it if it runs (TERM, KILL after `timeout`), then run it again."""
        result: dict[str, Any] = self._call("POST", f"/v1/containers/{handle}/restart",
                                            {"timeout_s": timeout})
        return result

    def process_json(self, handle: str, process_id: str) -> dict[str, Any]:
        """One process of a container (`init` is its main process)."""
        result: dict[str, Any] = self._call(
            "GET", f"/v1/containers/{handle}/processes/{process_id}")
        return result

    def top(self, handle: str) -> list[dict[str, Any]]:
        """The container's processes: pid and uid as it sees them, host_pid, state,
        rss_bytes, command."""
        rows: list[dict[str, Any]] = self._call("GET", f"/v1/containers/{handle}/top")
        return rows

    def archive_out(self, handle: str, path: str) -> Iterator[bytes]:
        """The tar stream of `path` in the container (symlinks on the way are refused)."""
        try:
            with self._http.stream("GET", f"/v1/containers/{handle}/archive",
                                   params={"path": path}) as response:
                if response.status >= 400:
                    raise from_response(response.read())
                yield from response.chunks
        except OSError as exc:
            raise unavailable(self._http.address, exc) from exc

    def archive_in(self, handle: str, path: str, archive: BinaryIO,
                   size: int) -> dict[str, Any]:
        """Unpack the tar in `archive` (`size` bytes) into the directory `path` of the
        container; what the daemon did (entries, bytes, skipped, stripped_setuid)."""
        result: dict[str, Any] = self._call("PUT", f"/v1/containers/{handle}/archive",
                                            FileBody(archive, size), params={"path": path})
        return result
