"""Paths the container starts with (the working directory, an absolute command): absolute,
and nowhere in the kernel trees runc mounts at start.

CVE-2024-21626 had runc start a container with a working directory of /proc/self/fd/N, a
descriptor runc had leaked that names a host directory. /proc, /sys and /dev are mounted by
runc as the container starts and hold magic links (/proc/self/fd, /proc/self/cwd, /dev/fd),
so no start path may lie in them, whether written so or reached through the image's
symlinks (the engine resolves those inside the rootfs and asks again). Pure."""

import posixpath

from stockade.errors import InvalidSpec

KERNEL_TREES = ("/proc", "/sys", "/dev")


def check_start_path(path: str, what: str) -> str:
    """The path, normalised; InvalidSpec (one line) when it is relative or in a kernel tree."""
    if "\0" in path or "\n" in path:
        raise InvalidSpec(f"{what} {path!r} holds a control character")
    if not path.startswith("/"):
        raise InvalidSpec(f"{what} {path!r} must be an absolute path")
    clean = posixpath.normpath(path)
    clean = "/" + clean.lstrip("/")  # normpath keeps a leading '//'
    for tree in KERNEL_TREES:
        if clean == tree or clean.startswith(tree + "/"):
            raise InvalidSpec(f"{what} {path!r} is in {tree}, which runc mounts at start "
                              "(the CVE-2024-21626 shape): use a directory of the image")
    return clean
