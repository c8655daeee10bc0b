"""Start paths (issue 16 part 5): a working directory or absolute command must be absolute and
stay out of /proc, /sys and /dev, as written and as the image's symlinks resolve it."""

import os
import posixpath
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockade.errors import InvalidSpec
from stockade.images.commands import start_path
from stockade.policy.startpaths import KERNEL_TREES, check_start_path

_NAME = st.sampled_from(["proc", "sys", "dev", "app", "self", "fd", "7", "..", ".", "", "tmp"])


@given(st.lists(_NAME, max_size=6))
def test_a_start_path_is_refused_exactly_when_it_normalises_into_a_kernel_tree(
        names: list[str]) -> None:
    path = "/" + "/".join(names)
    clean = "/" + posixpath.normpath(path).lstrip("/")
    inside = any(clean == t or clean.startswith(t + "/") for t in KERNEL_TREES)
    try:
        assert check_start_path(path, "working directory") == clean
        assert not inside
    except InvalidSpec as refused:
        assert inside and "\n" not in str(refused) and "CVE-2024-21626" in str(refused)


@pytest.mark.parametrize("path", ["app", "./app", "", "proc/self/fd/7"])
def test_a_relative_start_path_is_refused(path: str) -> None:
    with pytest.raises(InvalidSpec, match="must be an absolute path"):
        check_start_path(path, "working directory")


@pytest.mark.parametrize("path", ["/proc/self/fd/7", "/proc/self/cwd", "/dev/fd/3",
                                  "/app/../proc/1/root", "//proc/self/fd/7", "/sys"])
def test_the_cve_2024_21626_shapes_are_refused(path: str) -> None:
    with pytest.raises(InvalidSpec, match="which runc mounts at start"):
        check_start_path(path, "working directory")


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    for name in ("proc", "dev", "app/data", "usr/bin"):
        (tmp_path / name).mkdir(parents=True)
    os.symlink("/proc/self/fd/7", tmp_path / "work")  # dangling on the host: /proc is empty
    os.symlink("../proc", tmp_path / "app/up")
    os.symlink("/", tmp_path / "app/root")
    os.symlink("data", tmp_path / "app/here")
    os.symlink("/dev/fd", tmp_path / "usr/bin/fds")
    os.symlink("loop", tmp_path / "loop")
    return tmp_path


@pytest.mark.parametrize("path", ["/work", "/work/x", "/app/up/self", "/app/root/proc",
                                  "/usr/bin/fds/3", "/app/root/app/up"])
def test_symlinks_in_the_image_into_a_kernel_tree_are_refused(rootfs: Path, path: str) -> None:
    with pytest.raises(InvalidSpec) as refused:
        start_path(rootfs, path, "working directory")
    assert "resolved in the image" in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("path", ["/", "/app", "/app/here", "/app/here/new/deeper",
                                  "/app/root/app/data", "/missing/dir"])
def test_ordinary_working_directories_pass(rootfs: Path, path: str) -> None:
    assert start_path(rootfs, path, "working directory") == path


def test_a_symlink_loop_is_refused_in_one_line(rootfs: Path) -> None:
    with pytest.raises(InvalidSpec, match="cannot be resolved in the image"):
        start_path(rootfs, "/loop", "working directory")
