"""Give a root-owned rootfs to a container whose root is an unprivileged host id.

Two shapes of rootfs reach a runtime:
* a mount point (containerd's overlay or bind snapshot at <bundle>/rootfs, podman's
  overlay at .../merged): replaced in place by an equivalent idmapped mount, so the
  orchestrator's own unmount removes it; an overlay cannot itself be idmapped, so it is
  rebuilt over idmapped lower layers with its own upper and work directories.
* a plain directory (podman --rootfs, runc run): an idmapped view is mounted under
  /run/stockade-oci for `runc create` and detached right after it; the container's mount
  namespace keeps its copy.

runc prepares the rootfs as the container's root, which cannot pass through the
orchestrators' private (0700) directories; such a rootfs is handed to runc through a
plain bind under /run/stockade-oci, also detached once `runc create` returns.
"""

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from stockade.oci import idmap, staging
from stockade.oci.harden import UsernsPlan


class RootfsError(Exception):
    """The rootfs cannot be shown shifted; the policy decides what happens then."""


@dataclass(frozen=True)
class MountEntry:
    mount_point: str
    fstype: str
    source: str
    super_options: str


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code in ("\\040", "\\011", "\\012", "\\134"):
        field = field.replace(code, chr(int(code[1:], 8)))
    return field


def mount_at(path: str, mountinfo: str) -> MountEntry | None:
    """The topmost mount whose mount point is exactly `path`."""
    found = None
    for line in mountinfo.splitlines():
        fields, _, tail = line.partition(" - ")
        parts, rest = fields.split(), tail.split()
        if len(parts) >= 5 and len(rest) >= 3 and _unescape(parts[4]) == path:
            found = MountEntry(path, rest[0], _unescape(rest[1]), _unescape(rest[2]))
    return found


def overlay_layers(options: str) -> tuple[list[str], str, str, list[str]] | None:
    """(lower dirs top first, upper, work, other options); None when not absolute paths."""
    lower: list[str] = []
    upper = work = ""
    other: list[str] = []
    for option in options.split(","):
        key, _, value = option.partition("=")
        if key == "lowerdir":
            lower += value.replace("\\:", "\0").split(":")
        elif key == "lowerdir+":
            lower.append(value)
        elif key == "upperdir":
            upper = value
        elif key == "workdir":
            work = value
        elif key not in ("rw", "ro"):
            other.append(option)
    lower = [p.replace("\0", ":") for p in lower]
    if not lower or not all(p.startswith("/") for p in [*lower, upper or "/", work or "/"]):
        return None
    return lower, upper, work, other


class RootfsView:
    """Prepares what runc sees as the rootfs before `runc create`, tidies up after it."""

    def __init__(self, rootfs: str, plan: UsernsPlan, directory: str) -> None:
        self.rootfs = rootfs
        self.plan = plan
        self.directory = Path(directory)  # staging.container_dir() for this container
        self.temporary: str | None = None  # a mount runc needs only until create returns

    def _mount_point(self) -> Path:
        for level in (Path(staging.STAGING), self.directory.parent, self.directory):
            level.mkdir(mode=0o711, exist_ok=True)
            level.chmod(0o711)  # the container's root must pass through, not list
        target = self.directory / "rootfs"
        target.mkdir(mode=0o755, exist_ok=True)
        return target

    def expose(self, path: str) -> str:
        """A bind of `path` at a place the container's root can reach."""
        target = self._mount_point()
        idmap.attach(idmap.clone_tree(path), str(target))
        self.temporary = str(target)
        return self.temporary

    def shift(self) -> str:
        """Mount the shifted view; returns the path runc should use as root.path."""
        entry = mount_at(self.rootfs, Path("/proc/self/mountinfo").read_text())
        userns = idmap.userns_fd(self.plan.uid_map, self.plan.gid_map)
        try:
            if entry is None:
                return self._temporary_view(userns)
            if entry.fstype == "overlay":
                self._replace_overlay(entry, userns)
            else:
                self._replace_mount(userns)
            return self.rootfs
        finally:
            os.close(userns)

    def _temporary_view(self, userns: int) -> str:
        target = self._mount_point()
        idmap.attach(idmap.clone_tree(self.rootfs, userns), str(target))
        self.temporary = str(target)
        return self.temporary

    def _replace_mount(self, userns: int) -> None:
        tree = idmap.clone_tree(self.rootfs, userns)
        try:
            idmap.unmount(self.rootfs)
        except OSError:
            os.close(tree)
            raise
        idmap.attach(tree, self.rootfs)

    def _replace_overlay(self, entry: MountEntry, userns: int) -> None:
        layers = overlay_layers(entry.super_options)
        if layers is None:
            raise RootfsError(f"cannot read the overlay layers of {self.rootfs}")
        lower, upper, work, other = layers
        layers_dir = self._mount_point().parent / "layers"
        layers_dir.mkdir(mode=0o700, exist_ok=True)
        shifted = []
        try:
            for index, layer in enumerate(lower):
                target = layers_dir / f"l{index}"
                target.mkdir()
                idmap.attach(idmap.clone_tree(layer, userns), str(target))
                shifted.append(str(target))
            options = [f"lowerdir={':'.join(shifted)}"]
            if upper:
                self._own_upper(upper)
                options += [f"upperdir={upper}", f"workdir={work}"]
            idmap.unmount(self.rootfs)
            try:
                _clear_volatile_marker(work, other)
                idmap.mount("overlay", self.rootfs, "overlay", ",".join([*options, *other]))
            except OSError:
                # Put the orchestrator's mount back as it was, then report.
                _clear_volatile_marker(work, other)
                idmap.mount(entry.source, self.rootfs, "overlay", entry.super_options)
                raise
            idmap.make_private(self.rootfs)
        finally:
            # The overlay holds private copies of its layers; the staging mounts can go.
            for layer_view in shifted:
                idmap.detach(layer_view)
            staging.remove(str(layers_dir))

    def _own_upper(self, upper: str) -> None:
        """The upper layer is not idmapped, so what the orchestrator wrote there before
        (podman writes /etc/mtab, a restarted container has its earlier changes) must be
        shifted into the container's range, or root inside could not change it."""
        shift_unshifted(upper, self.plan.uid_map[0], self.plan.gid_map[0])

    def after_create(self, keep: bool) -> None:
        """runc has pivoted into its own copy of the view: the host's copy can go. The
        empty directory stays while the container exists (`keep`): runc exec starts
        there."""
        if self.temporary is not None:
            idmap.detach(self.temporary)
            self.temporary = None
        if not keep:
            staging.remove(str(self.directory))


def shift_unshifted(top: str, uid_map: tuple[int, int, int],
                    gid_map: tuple[int, int, int]) -> int:
    """lchown every entry under `top` whose owner is a container id (0..size-1) to its
    host id; entries already in the host range are left. Returns how many changed.

    chown clears setuid, setgid and file capabilities; the mode bits are put back, the
    capabilities are not (no_new_privs makes them useless anyway)."""
    (_, uid_base, uid_size), (_, gid_base, gid_size) = uid_map, gid_map
    changed = _shift_one(top, uid_base, uid_size, gid_base, gid_size)
    for directory, dirs, files in os.walk(top):
        for name in [*dirs, *files]:
            changed += _shift_one(os.path.join(directory, name), uid_base, uid_size,
                                  gid_base, gid_size)
    return changed


def _shift_one(path: str, uid_base: int, uid_size: int, gid_base: int, gid_size: int) -> int:
    info = os.lstat(path)
    uid = info.st_uid + uid_base if info.st_uid < uid_size else info.st_uid
    gid = info.st_gid + gid_base if info.st_gid < gid_size else info.st_gid
    if (uid, gid) == (info.st_uid, info.st_gid):
        return 0
    os.lchown(path, uid, gid)
    if not stat.S_ISLNK(info.st_mode):
        os.chmod(path, stat.S_IMODE(info.st_mode))
    return 1


def _clear_volatile_marker(work: str, options: list[str]) -> None:
    """A `volatile` overlay leaves work/incompat/volatile behind and the kernel refuses
    to mount that work directory again until it is gone. The mount it belonged to was
    unmounted cleanly a moment ago, so nothing is lost (podman's storage does the same
    before remounting)."""
    if work and ("volatile" in options or "fsync=volatile" in options):
        marker = Path(work) / "work" / "incompat" / "volatile"
        with contextlib.suppress(FileNotFoundError):
            for child in marker.iterdir():  # holds one entry, `dirty`
                if child.is_dir() and not child.is_symlink():
                    child.rmdir()
                else:
                    child.unlink()
            marker.rmdir()


def reachable(path: str, uid: int, gid: int) -> list[str]:
    """Directories above `path` that host user uid:gid cannot search."""
    blocked = []
    current = Path(path).parent
    while True:
        info = current.stat()
        if info.st_uid == uid:
            ok = bool(info.st_mode & 0o100)
        elif info.st_gid == gid:
            ok = bool(info.st_mode & 0o010)
        else:
            ok = bool(info.st_mode & 0o001)
        if not ok:
            blocked.append(str(current))
        if current == current.parent:
            return blocked
        current = current.parent
