"""Writable means not executable: every directory the application may write is mounted
noexec (and nosuid, nodev) inside the container.

Landlock's execute right covers execve only. A program the application wrote can still be
mapped executable (mmap PROT_EXEC) or run by the dynamic loader (`ld-linux-x86-64.so.2
/tmp/x` opens and maps it; it never execs it), so the writable directories carry the
mount flag the kernel checks for both. The image's own directories stay as they are: they
are read-only to the application (Landlock), so nothing it wrote can be run from them.

The platform's writable directories and the spec's writable paths live in the rootfs: the
engine stages a noexec copy of each (resolved below the rootfs without following a
symlink) and the config binds it onto itself. /dev/shm and /dev/mqueue are kernel mounts
made noexec already (policy/paths.py); read-write binds get noexec in their options. Pure."""

from stockade.policy.landlock import writable_paths
from stockade.spec import ContainerSpec

NOEXEC_OPTIONS = ("rbind", "rw", "nosuid", "nodev", "noexec")
_KERNEL_MOUNTED = "/dev"  # /dev/shm, /dev/mqueue: mounted noexec by policy/paths.py


def rootfs_dirs(spec: ContainerSpec) -> list[str]:
    """The writable directories that live in the rootfs, parents before children."""
    binds = {m.container_path for m in spec.mounts if not m.read_only}
    return sorted(p for p in writable_paths(spec)
                  if p not in binds and p != _KERNEL_MOUNTED
                  and not p.startswith(_KERNEL_MOUNTED + "/"))


def dir_mount(destination: str, staged: str) -> dict[str, object]:
    """Bind the staged noexec copy of a rootfs directory back onto itself."""
    return {"destination": destination, "type": "bind", "source": staged,
            "options": list(NOEXEC_OPTIONS)}
