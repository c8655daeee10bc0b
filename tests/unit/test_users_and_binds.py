"""User lookup inside untrusted images, and the bind-mount allowlist."""

import os
from pathlib import Path

import pytest

from stockade.engine.binds import open_source
from stockade.errors import InvalidSpec
from stockade.images.users import resolve
from stockade.spec import BindMount


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1234:4321::/:/x\n")
    (tmp_path / "etc/group").write_text("root:x:0:\nstaff:x:50:\n")
    return tmp_path


@pytest.mark.parametrize(("user", "ids"), [
    (None, (2000, 2000)), ("vcap", (2000, 2000)), ("root", (0, 0)), ("app", (1234, 4321)),
    ("1234", (1234, 4321)), ("77", (77, 77)), ("app:staff", (1234, 50)), ("5:6", (5, 6)),
])
def test_users_resolve(rootfs: Path, user: str | None, ids: tuple[int, int]) -> None:
    assert resolve(rootfs, user) == ids


@pytest.mark.parametrize("user", ["ghost", "app:ghosts"])
def test_unknown_users_are_refused(rootfs: Path, user: str) -> None:
    with pytest.raises(InvalidSpec, match="does not exist"):
        resolve(rootfs, user)


def test_a_symlinked_etc_cannot_read_the_hosts_passwd(tmp_path: Path) -> None:
    (tmp_path / "etc").symlink_to("/etc")
    # resolves inside the image root, where /etc is the link itself: no passwd, no host file
    with pytest.raises(InvalidSpec):
        resolve(tmp_path, "root")


def test_malformed_passwd_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("bad:x:notanumber:0::/:/x\n")
    with pytest.raises(InvalidSpec, match="malformed"):
        resolve(tmp_path, "bad")


def test_bind_mounts_must_stay_inside_the_allowlist(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    (allowed / "data").mkdir(parents=True)
    (allowed / "escape").symlink_to("/etc")
    (allowed / "fifo").mkdir()
    os.mkfifo(allowed / "fifo/pipe")
    fd = open_source(BindMount(host_path=str(allowed / "data"), container_path="/d"),
                     (allowed,))
    try:
        assert os.path.samestat(os.fstat(fd), os.stat(allowed / "data"))
    finally:
        os.close(fd)
    for bad, why in ((allowed / "escape", "is a symlink"), (tmp_path, "outside the allowed"),
                     (allowed / "missing", "no such file"), (Path("/etc"), "outside the allowed"),
                     (allowed / "escape/passwd", "is a symlink"),
                     (allowed / "fifo/pipe", "neither a directory nor a file")):
        with pytest.raises(InvalidSpec, match=why) as refused:
            open_source(BindMount(host_path=str(bad), container_path="/d"), (allowed,))
        assert "\n" not in str(refused.value)
