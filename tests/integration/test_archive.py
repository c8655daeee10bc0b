"""Files in and out of a running container as tar streams (the routes behind `stockade cp`):
owners as the container sees them, symlinks not followed, planted links refused, setuid
stripped, the disk quota holding what is copied in."""

import io
import tarfile

import httpx
import pytest

from stockade.spec import ContainerSpec
from tests.daemonkit import Daemon

pytestmark = pytest.mark.integration


def _http(daemon: Daemon) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(uds=str(daemon.socket)),
                        base_url="http://localhost", timeout=60)


def _tar(*members: tuple[str, bytes, int]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, data, mode in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid = len(data), mode, 1000, 1000
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.fixture
def box(daemon: Daemon) -> str:
    script = ("mkdir -p /tmp/data/sub && echo hello > /tmp/data/a && echo deep > "
              "/tmp/data/sub/b && ln -s /etc/passwd /tmp/data/link && ln -s / /tmp/up && "
              "sleep 600")
    with daemon.client() as client:
        client.create(ContainerSpec.model_validate(
            {"handle": "files", "process": {"args": ["sh", "-c", script], "user": "root"},
             "limits": {"disk_bytes": "16M"}}))
        for _ in range(100):
            if client.run("files", ["test", "-e", "/tmp/up"]).exit_code == 0:
                break
    return "files"


def test_a_directory_comes_out_as_the_container_sees_it(daemon: Daemon, box: str) -> None:
    with _http(daemon) as http:
        response = http.get(f"/v1/containers/{box}/archive", params={"path": "/tmp/data"})
    assert response.status_code == 200, response.text
    with tarfile.open(fileobj=io.BytesIO(response.content)) as archive:
        members = {m.name: m for m in archive.getmembers()}
        assert set(members) == {"data", "data/a", "data/sub", "data/sub/b", "data/link"}
        assert archive.extractfile("data/sub/b").read() == b"deep\n"  # type: ignore[union-attr]
        assert members["data/link"].issym() and members["data/link"].linkname == "/etc/passwd"
        assert (members["data/a"].uid, members["data/a"].gid) == (0, 0)  # container ids


def test_a_symlink_on_the_way_is_refused_in_both_directions(daemon: Daemon, box: str) -> None:
    with _http(daemon) as http:
        out = http.get(f"/v1/containers/{box}/archive", params={"path": "/tmp/up/etc"})
        into = http.put(f"/v1/containers/{box}/archive", params={"path": "/tmp/up/tmp"},
                        content=_tar(("x", b"x", 0o644)))
        missing = http.get(f"/v1/containers/{box}/archive", params={"path": "/nope"})
    assert out.status_code == 422 and "symlink" in out.json()["error"]["message"]
    assert into.status_code == 422 and "symlink" in into.json()["error"]["message"]
    assert missing.status_code == 404


def test_files_go_in_with_the_containers_ids_and_no_setuid(daemon: Daemon, box: str) -> None:
    archive = _tar(("new/plain", b"plain\n", 0o644), ("new/suid", b"#!/bin/sh\n", 0o4755),
                   ("../escape", b"no", 0o644))
    with _http(daemon) as http:
        refused = http.put(f"/v1/containers/{box}/archive", params={"path": "/tmp"},
                           content=archive)
        response = http.put(f"/v1/containers/{box}/archive", params={"path": "/tmp"},
                            content=_tar(("new/plain", b"plain\n", 0o644),
                                         ("new/suid", b"#!/bin/sh\n", 0o4755)))
    assert refused.status_code == 422, refused.text
    assert response.status_code == 200, response.text
    assert response.json()["stripped_setuid"] == ["new/suid"]
    with daemon.client() as client:
        seen = client.run(box, ["sh", "-c", "cat /tmp/new/plain; stat -c '%u %a' "
                                            "/tmp/new/plain /tmp/new/suid"])
    assert seen.stdout.decode().split("\n")[:3] == ["plain", "1000 644", "1000 755"]


def test_the_disk_quota_holds_what_is_copied_in(daemon: Daemon, box: str) -> None:
    with _http(daemon) as http:
        response = http.put(f"/v1/containers/{box}/archive", params={"path": "/tmp"},
                            content=_tar(("big", b"\0" * (32 << 20), 0o644)))
    assert response.status_code in (413, 422, 507), response.text
    assert len(response.json()["error"]["message"].splitlines()) == 1
