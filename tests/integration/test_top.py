"""`GET /containers/{h}/top`: a container's processes, read on the host, shown as the
container sees them."""

import httpx
import pytest

from stockade.spec import ContainerSpec
from tests.daemonkit import Daemon

pytestmark = pytest.mark.integration


def test_top_lists_the_containers_processes_as_it_sees_them(daemon: Daemon) -> None:
    with daemon.client() as client:
        client.create(ContainerSpec.model_validate(
            {"handle": "busy", "process": {"args": ["sh", "-c", "sleep 600 & sleep 601"],
                                           "user": "nobody"}}))
        client.run("busy", ["true"])  # it runs: exec waits for a running container
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(daemon.socket)),
                      base_url="http://localhost", timeout=60) as http:
        rows = http.get("/v1/containers/busy/top").json()
        missing = http.get("/v1/containers/nope/top")
    commands = {row["command"]: row for row in rows}
    assert {"sleep 600", "sleep 601"} <= set(commands), rows
    assert commands["sleep 600"]["uid"] == 65534  # nobody, inside
    assert min(row["pid"] for row in rows) == 1  # the init, in its own pid namespace
    assert missing.status_code == 404
