"""Files the daemon reads by name inside an image or a container (its /etc/passwd and
/etc/group at create and exec, an image layout's files at import) are opened
non-blocking, as regular files only, within a size cap: anything planted there instead is
a one-line error at once, never a hang."""

import os
import socket
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from stockade.errors import ImageError, InvalidSpec
from stockade.images.safepath import UnsafeFile, read_in_root
from stockade.images.sources import DirSource
from stockade.images.users import resolve

PASSWD = "root:x:0:0::/root:/bin/sh\napp:x:1234:4321::/:/x\n"


def _fifo(path: Path) -> None:
    os.mkfifo(path)  # no writer: a blocking open would wait forever


def _symlink(path: Path) -> None:
    (path.parent / "real-passwd").write_text(PASSWD)
    path.symlink_to("real-passwd")  # inside the tree, and still not followed


def _device(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR | 0o644, os.makedev(1, 3))


def _directory(path: Path) -> None:
    path.mkdir()


def _oversized(path: Path) -> None:
    path.write_bytes(b"x" * ((1 << 20) + 1))


def _socket(path: Path) -> None:
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.close()  # the socket file stays


PLANTED: dict[str, tuple[Callable[[Path], None], str]] = {
    "fifo": (_fifo, "is a FIFO, not a regular file"),
    "symlink": (_symlink, "is a symlink, not a regular file"),
    "device": (_device, "is a character device, not a regular file"),
    "directory": (_directory, "is a directory, not a regular file"),
    "oversized": (_oversized, "is over the 1048576-byte limit"),
    "socket": (_socket, "is a socket, not a regular file"),
}


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/group").write_text("root:x:0:\nstaff:x:50:\n")
    return tmp_path


@pytest.mark.timeout(5)
@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_anything_but_a_regular_passwd_is_a_one_line_error_at_once(rootfs: Path,
                                                                   kind: str) -> None:
    plant, why = PLANTED[kind]
    plant(rootfs / "etc/passwd")
    with pytest.raises(InvalidSpec, match=why) as refused:
        resolve(rootfs, "app")
    message = str(refused.value)
    assert "\n" not in message and message.startswith("cannot resolve user 'app': /etc/passwd ")


@pytest.mark.timeout(5)
def test_a_fifo_as_etc_group_is_refused_too(rootfs: Path) -> None:
    (rootfs / "etc/passwd").write_text(PASSWD)
    (rootfs / "etc/group").unlink()
    os.mkfifo(rootfs / "etc/group")
    assert resolve(rootfs, "app") == (1234, 4321)  # /etc/group is not needed here
    with pytest.raises(InvalidSpec, match="/etc/group is a FIFO"):
        resolve(rootfs, "app:staff")


def test_regular_files_read_whole_and_absent_ones_are_none(rootfs: Path) -> None:
    (rootfs / "etc/passwd").write_text(PASSWD)
    assert read_in_root(rootfs, "etc/passwd") == PASSWD.encode()
    assert read_in_root(rootfs, "etc/shadow") is None
    assert read_in_root(rootfs, "etc/passwd/x") is None
    exact = rootfs / "etc/exact"
    exact.write_bytes(b"y" * 100)
    assert read_in_root(rootfs, "etc/exact", limit=100) == b"y" * 100
    with pytest.raises(UnsafeFile, match="over the 99-byte limit"):
        read_in_root(rootfs, "etc/exact", limit=99)


def test_a_symlinked_directory_above_resolves_inside_the_tree(tmp_path: Path) -> None:
    (tmp_path / "usr/etc").mkdir(parents=True)
    (tmp_path / "usr/etc/passwd").write_text(PASSWD)
    (tmp_path / "etc").symlink_to("/usr/etc")  # absolute, yet taken inside the tree
    assert resolve(tmp_path, "app") == (1234, 4321)


@pytest.mark.timeout(5)
@pytest.mark.parametrize("kind", ["fifo", "symlink", "directory", "socket"])
def test_an_image_layout_reads_its_files_through_the_same_helper(tmp_path: Path,
                                                                  kind: str) -> None:
    plant, why = PLANTED[kind]
    (tmp_path / "oci-layout").write_text("{}")
    plant(tmp_path / "index.json")
    fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        source = DirSource(fd, tmp_path)
        handle, size = source.open("oci-layout")
        with handle:
            assert (handle.read(), size) == (b"{}", 2)
        with pytest.raises(ImageError, match=f"index.json in {tmp_path}: /index.json {why}"):
            source.open("index.json")
    finally:
        os.close(fd)
